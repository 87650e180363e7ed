package lake

import (
	"strings"
	"testing"
	"time"
)

func TestTranslateWorstCases(t *testing.T) {
	inputs := []string{
		"SELECT " + strings.Repeat("a(,", 3300) + " FROM " + fuzzStore,
		"WITH " + strings.Repeat("a(b) AS (SELECT 1 FROM "+fuzzStore+"),", 200) + " x AS (SELECT 1) SELECT 1 FROM x",
		"SELECT " + strings.Repeat("date_format(a, 'b', ", 400) + " FROM " + fuzzStore,
		"SELECT " + strings.Repeat("x,", 4990) + "y FROM " + fuzzStore,
		strings.Repeat("-", 9999),
		"SELECT " + strings.Repeat("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaa", 280),
	}
	for _, in := range inputs {
		start := time.Now()
		translate(in, fuzzResolve)
		if d := time.Since(start); d > time.Second {
			t.Errorf("translate of a %d-byte statement took %v", len(in), d)
		}
	}
}
