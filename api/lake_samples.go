package api

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/lake/samples"
)

// CloudTrail Lake sample queries: SearchSampleQueries searches opentrail's
// built-in catalogue (package lake/samples). The catalogue does not depend
// on the lake, so it is served even where Lake is not configured.

func init() {
	cloudtrailOps["SearchSampleQueries"] = readOp(anyResource[ctapi.SearchSampleQueriesRequest], (*Server).searchSampleQueries)
}

// defaultSampleResults is SearchSampleQueries' page size without MaxResults.
const defaultSampleResults = 10

func (s *Server) searchSampleQueries(ctx context.Context, req *request, in *ctapi.SearchSampleQueriesRequest) (any, error) {
	phrase := deref(in.SearchPhrase) // the model checked its length and characters
	limit := defaultSampleResults
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	found := samples.Search(phrase)
	first := 0
	prefix := sampleTokenPrefix(phrase)
	if in.NextToken != nil {
		rest, ok := strings.CutPrefix(*in.NextToken, prefix)
		n, err := strconv.Atoi(rest)
		if !ok || err != nil || n < 0 || n > len(found) {
			return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "The NextToken is not one SearchSampleQueries returned for this SearchPhrase.")
		}
		first = n
	}
	out := &ctapi.SearchSampleQueriesResponse{SearchResults: []ctapi.SearchSampleQueriesSearchResult{}}
	end := min(first+limit, len(found))
	for _, r := range found[first:end] {
		out.SearchResults = append(out.SearchResults, ctapi.SearchSampleQueriesSearchResult{
			Name: ptr(r.Name), Description: ptr(r.Description), SQL: ptr(r.SQL), Relevance: ptr(r.Relevance),
		})
	}
	if end < len(found) {
		out.NextToken = ptr(prefix + strconv.Itoa(end))
	}
	return out, nil
}

// sampleTokenPrefix ties a NextToken to the phrase it pages.
func sampleTokenPrefix(phrase string) string {
	h := fnv.New32a()
	h.Write([]byte(phrase))
	return fmt.Sprintf("samples-%08x:", h.Sum32())
}
