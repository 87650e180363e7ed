package samples

import (
	"sort"
	"strings"
	"sync"
	"unicode"
)

// Result is a sample query found by Search, with its relevance to the
// search phrase.
type Result struct {
	Query
	Relevance float32 // in (0, 1]
}

// Field weights of the relevance score: a phrase word counts most when it
// is in a query's name and least when it is only in its SQL.
const (
	nameWeight        = 1.0
	descriptionWeight = 0.7
	sqlWeight         = 0.4
	// prefixFactor scales a word matched as a prefix ("sign" in
	// "sign-ins", "logins" against "login") rather than a whole token.
	prefixFactor = 0.8
)

// stopWords are phrase words that say nothing about which query is meant.
// They are ignored unless the phrase holds nothing else.
var stopWords = map[string]bool{
	"a": true, "an": true, "and": true, "are": true, "by": true, "for": true, "from": true,
	"how": true, "in": true, "is": true, "me": true, "of": true, "on": true, "or": true,
	"show": true, "the": true, "to": true, "was": true, "were": true, "what": true,
	"which": true, "who": true, "with": true, "query": true, "queries": true,
}

// Search finds the catalogue queries that match phrase, most relevant
// first (ties in catalogue order). Queries that match no word of the
// phrase are left out.
//
// The relevance is a word-match score. The phrase and each query's name,
// description and SQL are split into words (runs of letters and digits,
// lower-cased; "StopLogging" is one word). For each distinct phrase word
// the best field it matches gives 1.0 (name), 0.7 (description) or 0.4
// (SQL); a match as a prefix rather than a whole word (see match)
// counts 0.8 of that. The relevance is the mean over the phrase words, so
// a query whose name holds every word of the phrase scores 1.
func Search(phrase string) []Result {
	words := phraseWords(phrase)
	if len(words) == 0 {
		return nil
	}
	var out []Result
	for i, f := range indexed() {
		var total float64
		for _, w := range words {
			total += max(nameWeight*match(w, f.name), descriptionWeight*match(w, f.desc), sqlWeight*match(w, f.sql))
		}
		if total > 0 {
			out = append(out, Result{Query: catalogue[i], Relevance: float32(min(total/float64(len(words)), 1))})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Relevance > out[j].Relevance })
	return out
}

// fields are the token sets of a catalogue query.
type fields struct{ name, desc, sql map[string]bool }

// indexed holds the token sets of the catalogue, in its order.
var indexed = sync.OnceValue(func() []fields {
	out := make([]fields, len(catalogue))
	for i, q := range catalogue {
		out[i] = fields{tokenSet(q.Name), tokenSet(q.Description), tokenSet(q.SQL)}
	}
	return out
})

// phraseWords are the distinct words of phrase, without stop words unless
// it holds only those.
func phraseWords(phrase string) []string {
	all := tokens(phrase)
	var words []string
	seen := map[string]bool{}
	for _, w := range all {
		if !stopWords[w] && !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	if len(words) > 0 {
		return words
	}
	for _, w := range all {
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// tokens splits s into lower-cased runs of letters and digits.
func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func tokenSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, t := range tokens(s) {
		m[t] = true
	}
	return m
}

// match scores word w against a field's tokens: 1 for a whole token,
// prefixFactor for a prefix match, 0 for none. A prefix match is w (of at
// least 3 letters) starting a token, or a token of at least 3 letters
// starting w with at most 3 letters to spare ("login" for "logins").
func match(w string, field map[string]bool) float64 {
	if field[w] {
		return 1
	}
	for t := range field {
		if len(w) >= 3 && strings.HasPrefix(t, w) || len(t) >= 3 && len(w)-len(t) <= 3 && strings.HasPrefix(w, t) {
			return prefixFactor
		}
	}
	return 0
}
