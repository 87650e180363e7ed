package api

import (
	"strconv"
	"strings"

	"github.com/opentrail/opentrail"
)

// pageStart reads the NextToken of a list operation that pages an
// in-memory list of n items: "<prefix>:<offset>", as nextPage wrote it.
// A nil token starts at 0; anything else is InvalidNextTokenException
// naming op.
func pageStart(token *string, prefix, op string, n int) (int, error) {
	if token == nil {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(*token, prefix+":")
	i, err := strconv.Atoi(rest)
	if !ok || err != nil || i < 0 || i > n {
		return 0, opentrail.Errorf("InvalidNextTokenException", "The NextToken is not one %s returned.", op)
	}
	return i, nil
}

// nextPage is the NextToken after a page that ended at offset end of n
// items; nil when nothing follows.
func nextPage(prefix string, end, n int) *string {
	if end >= n {
		return nil
	}
	return ptr(prefix + ":" + strconv.Itoa(end))
}
