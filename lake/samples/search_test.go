package samples_test

import (
	"testing"

	"github.com/opentrail/opentrail/lake/samples"
)

func TestSearch(t *testing.T) {
	for _, c := range []struct {
		phrase string
		first  string
		rel    float32 // of the first result
	}{
		{"root user", "Root user activity", 1},
		{"Failed console sign-in", "Failed console sign-in attempts", 1},
		{"show me the MFA console sign-ins", "Console sign-ins without MFA", 1},
		{"security group", "Security group changes", 1},
		{"KMS key deletion", "KMS key disabling and deletion", 1},
		// "PutBucketAcl" is only in the SQL of bucket policy changes.
		{"PutBucketAcl", "S3 bucket policy and ACL changes", 0.4},
		{"StopLogging", "Changes to trails", 0.7}, // in its description
		// A prefix: "throttl" starts "throttled".
		{"throttl", "Throttled API calls", 0.8},
	} {
		got := samples.Search(c.phrase)
		if len(got) == 0 {
			t.Errorf("Search(%q) found nothing", c.phrase)
			continue
		}
		if got[0].Name != c.first || !near(got[0].Relevance, c.rel) {
			t.Errorf("Search(%q) first = %q (%v), want %q (%v)", c.phrase, got[0].Name, got[0].Relevance, c.first, c.rel)
		}
	}
	if got := samples.Search("zzqx wibble"); len(got) != 0 {
		t.Errorf("Search of unknown words found %d queries", len(got))
	}
	// Half the words in a name: 0.5.
	for _, r := range samples.Search("root qqqq") {
		if r.Name == "Root user activity" && !near(r.Relevance, 0.5) {
			t.Errorf("root qqqq: relevance %v, want 0.5", r.Relevance)
		}
	}
	// A phrase of stop words only still searches.
	if got := samples.Search("who"); len(got) != 0 && got[0].Relevance <= 0 {
		t.Errorf("Search(who) = %v", got)
	}
}

func near(a, b float32) bool { return a-b < 1e-5 && b-a < 1e-5 }

func checkResults(t *testing.T, phrase string, got []samples.Result) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range got {
		if r.Relevance <= 0 || r.Relevance > 1 {
			t.Fatalf("Search(%q): relevance %v of %q", phrase, r.Relevance, r.Name)
		}
		if i > 0 && r.Relevance > got[i-1].Relevance {
			t.Fatalf("Search(%q): not ordered by relevance at %d", phrase, i)
		}
		if seen[r.Name] {
			t.Fatalf("Search(%q): %q twice", phrase, r.Name)
		}
		seen[r.Name] = true
	}
	if len(got) > len(samples.All()) {
		t.Fatalf("Search(%q): %d results", phrase, len(got))
	}
}

func FuzzSearch(f *testing.F) {
	for _, s := range []string{"root", "failed console sign-in", "", "a", "αβγ ÿ", "the of", "s3 bucket-policy ACL", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, phrase string) {
		got := samples.Search(phrase)
		checkResults(t, phrase, got)
		again := samples.Search(phrase)
		if len(again) != len(got) {
			t.Fatalf("Search(%q) is not deterministic", phrase)
		}
		for i := range got {
			if got[i] != again[i] {
				t.Fatalf("Search(%q) is not deterministic", phrase)
			}
		}
	})
}
