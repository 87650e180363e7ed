package blob

import (
	"strings"
	"unicode/utf8"
)

// How the directory store names files after keys.
//
// A key is cut after each '/' into fragments: "logs/2024/a.json" is the
// directory fragments "logs/" and "2024/" and the object fragment "a.json".
// Each fragment becomes one path element, escaped so that any key maps to a
// safe name and back:
//
//   - '%', '/', control characters and '\' become %XX;
//   - a directory's name keeps its trailing '/' as "%2F", so the object
//     "logs" and the directory of "logs/..." never collide;
//   - the object fragments "", "." and ".." (keys ending in '/', "/." or
//     "/..") become "%", "%2E" and "%2E%2E": no name is ever empty, "." or
//     "..", so no key can climb out of its bucket;
//   - a fragment whose name would pass maxName bytes is cut into a chain of
//     continuation directories, named after their piece and "%+", so every
//     name fits the file system's 255-byte limit;
//   - below maxDepth directories, the rest of the key, slashes and all, is
//     one object named after it and "%-", so that a key of a thousand
//     slashes costs no more than a few dozen directories.
//
// Sorting a directory's entries by the fragment they stand for (a
// directory's with its '/') gives the keys beneath in S3's byte order, as
// long as continuation directories are read as part of the directory that
// holds them; listing relies on both.

// maxName bounds the length of one encoded path element.
const maxName = 200

// maxDepth is the deepest directory level; keys with more fragments end in
// a tail object there.
const maxDepth = 48

const (
	contSuffix = "%+"
	tailSuffix = "%-"
)

// entry kinds of a directory of objects.
const (
	kindObject = iota
	kindDir    // holds the keys under fragment, which ends in '/'
	kindCont   // continuation: holds the rest of fragments beginning with it
	kindTail   // an object whose fragment may hold '/' (at maxDepth only)
)

// keyElems returns the path elements of key, relative to the bucket's
// objects directory. key must be valid (checkKey).
func keyElems(key string) []string {
	elems := make([]string, 0, min(strings.Count(key, "/"), maxDepth)+1)
	for depth := 0; ; depth++ {
		i := strings.IndexByte(key, '/')
		switch {
		case i < 0:
			return appendFragment(elems, key, kindObject)
		case depth == maxDepth:
			return appendFragment(elems, key, kindTail)
		}
		elems = appendFragment(elems, key[:i+1], kindDir)
		key = key[i+1:]
	}
}

// dirOf returns the longest part of prefix that names a directory: up to
// its last '/', but not deeper than maxDepth.
func dirOf(prefix string) string {
	n := 0
	for depth := 0; depth < maxDepth; depth++ {
		i := strings.IndexByte(prefix[n:], '/')
		if i < 0 {
			break
		}
		n += i + 1
	}
	return prefix[:n]
}

// dirElems returns the path elements of the directory that holds the keys
// beginning with dir, a result of dirOf.
func dirElems(dir string) []string {
	var elems []string
	for dir != "" {
		i := strings.IndexByte(dir, '/')
		elems = appendFragment(elems, dir[:i+1], kindDir)
		dir = dir[i+1:]
	}
	return elems
}

// appendFragment appends the elements of one fragment: continuation
// directories while it is too long, then its own name.
func appendFragment(elems []string, frag string, kind int) []string {
	for len(encodeName(frag, kind)) > maxName {
		body := frag
		if kind == kindDir {
			body = frag[:len(frag)-1] // the '/' stays with the last piece
		}
		n, size := 0, 0
		for n < len(body) {
			r, w := utf8.DecodeRuneInString(body[n:])
			c := w
			if r < utf8.RuneSelf && needsEscape(byte(r)) {
				c = 3
			}
			if size+c > maxName-len(contSuffix) {
				break
			}
			n, size = n+w, size+c
		}
		elems = append(elems, escape(body[:n])+contSuffix)
		frag = frag[n:]
	}
	return append(elems, encodeName(frag, kind))
}

// encodeName is the name of a whole fragment of the given kind.
func encodeName(frag string, kind int) string {
	switch kind {
	case kindTail:
		return escape(frag) + tailSuffix
	case kindObject:
		switch frag {
		case "":
			return "%"
		case ".":
			return "%2E"
		case "..":
			return "%2E%2E"
		}
	}
	return escape(frag)
}

func needsEscape(c byte) bool {
	return c == '%' || c == '/' || c == '\\' || c < 0x20 || c == 0x7f
}

const hexDigits = "0123456789ABCDEF"

func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if needsEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// decodeName returns the fragment a path element stands for and its kind
// (a tail is an object). ok is false for any name the store would not have
// written (temporary files, files put there by hand), which listing then
// ignores.
func decodeName(name string) (frag string, kind int, ok bool) {
	if base, cont := strings.CutSuffix(name, contSuffix); cont {
		frag, ok = unescape(base)
		return frag, kindCont, ok && frag != "" && escape(frag) == base
	}
	if base, tail := strings.CutSuffix(name, tailSuffix); tail {
		frag, ok = unescape(base)
		return frag, kindObject, ok && escape(frag) == base
	}
	if name == "%" {
		return "", kindObject, true
	}
	frag, ok = unescape(name)
	if !ok {
		return "", 0, false
	}
	kind = kindObject
	if i := strings.IndexByte(frag, '/'); i >= 0 {
		if i != len(frag)-1 {
			return "", 0, false
		}
		kind = kindDir
	}
	return frag, kind, encodeName(frag, kind) == name
}

func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+3 > len(s) {
			return "", false
		}
		h, l := unhex(s[i+1]), unhex(s[i+2])
		if h < 0 || l < 0 {
			return "", false
		}
		b.WriteByte(byte(h<<4 | l))
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
