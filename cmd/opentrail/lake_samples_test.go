package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

// searchAll pages SearchSampleQueries with page size max.
func searchAll(tb testing.TB, ct *cloudtrail.Client, phrase string, max int32) []types.SearchSampleQueriesSearchResult {
	tb.Helper()
	in := &cloudtrail.SearchSampleQueriesInput{SearchPhrase: aws.String(phrase), MaxResults: aws.Int32(max)}
	var all []types.SearchSampleQueriesSearchResult
	for range 100 {
		out, err := ct.SearchSampleQueries(context.Background(), in)
		if err != nil {
			tb.Fatalf("SearchSampleQueries %q: %v", phrase, err)
		}
		if len(out.SearchResults) > int(max) {
			tb.Fatalf("a page of %d results, MaxResults %d", len(out.SearchResults), max)
		}
		all = append(all, out.SearchResults...)
		if out.NextToken == nil {
			return all
		}
		in.NextToken = out.NextToken
	}
	tb.Fatal("SearchSampleQueries pages without end")
	return nil
}

func TestLakeSearchSampleQueries(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")

	out, err := ct.SearchSampleQueries(ctx, &cloudtrail.SearchSampleQueriesInput{SearchPhrase: aws.String("root user activity")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.SearchResults) == 0 || len(out.SearchResults) > 10 {
		t.Fatalf("%d results for the default MaxResults 10", len(out.SearchResults))
	}
	first := out.SearchResults[0]
	if aws.ToString(first.Name) != "Root user activity" || first.Relevance != 1 ||
		!strings.Contains(aws.ToString(first.SQL), "userIdentity.type = 'Root'") || !strings.Contains(aws.ToString(first.SQL), "$EDS_ID") ||
		aws.ToString(first.Description) == "" {
		t.Errorf("first result %+v", first)
	}

	// Paging with a small page gives the same results in the same order
	// as one big page, ordered by relevance.
	big := searchAll(t, ct, "IAM user policy changes", 50)
	paged := searchAll(t, ct, "IAM user policy changes", 3)
	if len(big) < 4 || len(paged) != len(big) {
		t.Fatalf("%d results in pages of 3, %d in one page", len(paged), len(big))
	}
	for i := range big {
		r := big[i].Relevance
		if aws.ToString(paged[i].Name) != aws.ToString(big[i].Name) || paged[i].Relevance != r {
			t.Errorf("result %d: paged %q, one page %q", i, aws.ToString(paged[i].Name), aws.ToString(big[i].Name))
		}
		if r <= 0 || r > 1 || (i > 0 && r > big[i-1].Relevance) {
			t.Errorf("result %d relevance %v out of order or range", i, r)
		}
	}
	if aws.ToString(big[0].Name) != "IAM policy changes" && aws.ToString(big[0].Name) != "IAM user changes" {
		t.Errorf("best match for IAM user policy changes: %q", aws.ToString(big[0].Name))
	}

	if got := searchAll(t, ct, "xyzzy plugh", 10); len(got) != 0 {
		t.Errorf("nonsense phrase found %d queries", len(got))
	}

	// Bad input: InvalidParameterException.
	for name, in := range map[string]*cloudtrail.SearchSampleQueriesInput{
		"short phrase":  {SearchPhrase: aws.String("x")},
		"tab in phrase": {SearchPhrase: aws.String("root\tuser")},
		"MaxResults 51": {SearchPhrase: aws.String("root"), MaxResults: aws.Int32(51)},
		"MaxResults 0":  {SearchPhrase: aws.String("root"), MaxResults: aws.Int32(0)},
		"foreign token": {SearchPhrase: aws.String("root"), NextToken: aws.String("samples-00000000:1")},
	} {
		if _, err := ct.SearchSampleQueries(ctx, in); errorCode(err) != "InvalidParameterException" {
			t.Errorf("%s: %v, want InvalidParameterException", name, err)
		}
	}
	// A token of one phrase does not page another.
	p, err := ct.SearchSampleQueries(ctx, &cloudtrail.SearchSampleQueriesInput{SearchPhrase: aws.String("changes"), MaxResults: aws.Int32(1)})
	if err != nil || p.NextToken == nil {
		t.Fatalf("changes: %v, %+v", err, p)
	}
	if _, err := ct.SearchSampleQueries(ctx, &cloudtrail.SearchSampleQueriesInput{SearchPhrase: aws.String("root"), NextToken: p.NextToken}); errorCode(err) != "InvalidParameterException" {
		t.Errorf("another phrase's token: %v", err)
	}

	// The AWS CLI.
	var cli struct {
		SearchResults []struct {
			Name, Description, SQL string
			Relevance              float64
		}
		NextToken string
	}
	ts.awsCLI(t, "us-east-1", &cli, false, "cloudtrail", "search-sample-queries", "--search-phrase", "console sign-ins without MFA", "--max-results", "2")
	if len(cli.SearchResults) != 2 || cli.SearchResults[0].Name != "Console sign-ins without MFA" || cli.SearchResults[0].Relevance != 1 || cli.NextToken == "" {
		t.Errorf("search-sample-queries: %+v", cli)
	}
}
