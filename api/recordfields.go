package api

import (
	"bytes"
	"encoding/json"
)

// recordStrings returns the string values of the given top-level keys of
// a JSON record ("" for a key that is absent or not a string), reading the
// record once without decoding the rest of it: the CSV download needs two
// fields of every record, and decoding whole records was most of its cost.
// A record that is not a JSON object yields only empty strings.
func recordStrings(rec []byte, keys ...string) []string {
	out := make([]string, len(keys))
	i := skipSpace(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return out
	}
	i++
	for {
		i = skipSpace(rec, i)
		if i >= len(rec) || rec[i] == '}' {
			return out
		}
		if rec[i] != '"' {
			return out
		}
		end := stringEnd(rec, i)
		if end < 0 {
			return out
		}
		key := rec[i+1 : end-1]
		i = skipSpace(rec, end)
		if i >= len(rec) || rec[i] != ':' {
			return out
		}
		i = skipSpace(rec, i+1)
		if i >= len(rec) {
			return out
		}
		if rec[i] == '"' {
			end = stringEnd(rec, i)
			if end < 0 {
				return out
			}
			for k, want := range keys {
				if string(key) == want {
					out[k] = jsonString(rec[i:end])
				}
			}
		} else if end = valueEnd(rec, i); end < 0 {
			return out
		}
		i = skipSpace(rec, end)
		if i < len(rec) && rec[i] == ',' {
			i++
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] ('"'),
// or -1 if it does not end.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index just past the non-string value starting at
// b[i] (an object, array or literal), or -1 if it does not end.
func valueEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			if j = stringEnd(b, j); j < 0 {
				return -1
			}
			j--
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j // the end of the enclosing object
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		case ',':
			if depth == 0 {
				return j
			}
		}
	}
	if depth == 0 {
		return len(b)
	}
	return -1
}

// jsonString decodes a quoted JSON string.
func jsonString(q []byte) string {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1])
	}
	var s string
	json.Unmarshal(q, &s)
	return s
}
