package ctapi

import (
	"fmt"
	"reflect"
	"regexp"
)

// kind is the type of a shape in the model.
type kind uint8

const (
	kindStructure kind = iota + 1
	kindList
	kindMap
	kindString
	kindBoolean
	kindInteger
	kindLong
	kindFloat
	kindDouble
	kindBlob
	kindTimestamp
)

// bound says which of a shape's min and max the model sets.
type bound uint8

const (
	hasMin bound = 1 << iota
	hasMax
)

// shape is one shape of the model (model.go). Names in members, elem, key
// and value are resolved into pointers by init.
type shape struct {
	name        string
	kind        kind
	min, max    int64  // length (strings, lists, maps, blobs) or value (numbers)
	bounds      bound  // which of min and max apply
	pattern     string // as the model writes it; messages quote it
	re2         string // pattern in RE2 syntax, when it differs
	skipPattern bool   // RE2 cannot express pattern; it is not checked
	enum        []string
	exception   bool     // an error shape; no Go type
	members     []member // structure members in model order, which is the Go field order
	elem        string   // list element shape
	key, value  string   // map key and value shapes

	// Resolved by init.
	re          *regexp.Regexp
	elemShape   *shape
	keyShape    *shape
	valueShape  *shape
	memberIndex map[string]int // wire name -> index in members
	enumSet     map[string]bool
}

// member is one member of a structure shape.
type member struct {
	name     string // wire name, also the json tag of the Go field
	target   string
	required bool

	shape *shape // resolved by init
	path  string // name with its first letter lower-cased, as validation messages and events spell it
}

// operation is one operation of the model (model.go).
type operation struct {
	name            string
	input, output   string
	inType, outType reflect.Type
	errors          []string // exception shapes the model declares, sorted

	in, out   *shape            // resolved by init
	overrides map[string]string // top-level input member -> validation error code
}

var (
	shapesByName = map[string]*shape{}
	opsByName    = map[string]*operation{}
	opNames      []string
)

func init() {
	for i := range shapeTable {
		s := &shapeTable[i]
		shapesByName[s.name] = s
	}
	compiled := map[string]*regexp.Regexp{}
	resolve := func(name string) *shape {
		s, ok := shapesByName[name]
		if !ok {
			panic(fmt.Sprintf("ctapi: model refers to unknown shape %q", name))
		}
		return s
	}
	for i := range shapeTable {
		s := &shapeTable[i]
		if s.elem != "" {
			s.elemShape = resolve(s.elem)
		}
		if s.key != "" {
			s.keyShape, s.valueShape = resolve(s.key), resolve(s.value)
		}
		if len(s.members) > 0 {
			s.memberIndex = make(map[string]int, len(s.members))
		}
		for j := range s.members {
			m := &s.members[j]
			m.shape = resolve(m.target)
			m.path = lowerFirst(m.name)
			s.memberIndex[m.name] = j
		}
		if len(s.enum) > 0 {
			s.enumSet = make(map[string]bool, len(s.enum))
			for _, v := range s.enum {
				s.enumSet[v] = true
			}
		}
		if s.pattern != "" && !s.skipPattern {
			src := s.pattern
			if s.re2 != "" {
				src = s.re2
			}
			// Model patterns must match the whole value, as the service's
			// validator (java.util.regex Matcher.matches) requires.
			re, ok := compiled[src]
			if !ok {
				re = regexp.MustCompile(`^(?:` + src + `)$`)
				compiled[src] = re
			}
			s.re = re
		}
	}
	for i := range operationTable {
		op := &operationTable[i]
		op.in, op.out = resolve(op.input), resolve(op.output)
		opsByName[op.name] = op
		opNames = append(opNames, op.name)
	}
	buildOverrides()
}

// lowerFirst lower-cases the first letter of an ASCII member name, the way
// CloudTrail spells members in validation messages and in recorded events:
// TrailARN -> trailARN, S3BucketName -> s3BucketName.
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
