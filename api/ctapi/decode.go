package ctapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/opentrail/opentrail"
)

// MaxDepth is how deeply a request body may nest JSON objects and arrays;
// the model's deepest request needs 6. Deeper bodies are a
// SerializationException, which bounds the decoder's recursion.
const MaxDepth = 64

// Decode checks the awsJson1_1 request body of operation op against the
// model and stores it in dst, which must be a pointer to the operation's
// request struct (*LookupEventsRequest for "LookupEvents"), or nil to only
// check the body. On error *dst is left unchanged.
//
// An empty body, or JSON null, is the empty request {}. Members the model
// does not know are ignored, as AWS does; a member whose value is JSON null
// is absent, as are null list elements and map values. Errors are
// *opentrail.Error:
//
//   - UnknownOperationException if op is not a CloudTrail operation;
//   - SerializationException if the body is not JSON, is not an object,
//     nests deeper than MaxDepth, or a member has the wrong JSON type (the
//     message names the member, e.g. "Expected integer for member
//     'MaxResults', got string"), an integer out of range, bad base64, or a
//     timestamp that is not a number;
//   - a validation error listing every constraint violation in the style of
//     AWS ("1 validation error detected: Value '100' at 'maxResults' failed
//     to satisfy constraint: Member must have value less than or equal to
//     50"). Its code is InvalidParameterException, or the more specific
//     exception CloudTrail reports for the first violating member (such as
//     InvalidMaxResultsException for LookupEvents' MaxResults; see
//     validationOverrides);
//   - InternalFailure if dst is not nil and not of the right type: a bug in
//     the caller, never the client's fault.
//
// Decode never panics, and its work is linear in len(body).
func Decode(op string, body []byte, dst any) error {
	o, ok := opsByName[op]
	if !ok {
		return opentrail.Errorf(opentrail.CodeUnknownOperation, "Unknown operation: %s", truncate(op, 256))
	}
	var out reflect.Value
	if dst != nil {
		out = reflect.ValueOf(dst)
		if out.Kind() != reflect.Pointer || out.IsNil() || out.Type().Elem() != o.inType {
			return opentrail.Errorf(opentrail.CodeInternalFailure, "ctapi.Decode(%q): dst is %T, want *ctapi.%s", op, dst, o.inType.Name())
		}
	}
	v := reflect.New(o.inType).Elem()
	if err := decodeBody(o.in, body, v); err != nil {
		return err
	}
	if err := validate(o, v); err != nil {
		return err
	}
	if dst != nil {
		out.Elem().Set(v)
	}
	return nil
}

// decodeBody parses body as a value of structure s into v, a settable value
// of s's Go struct type. It checks JSON types, not model constraints.
func decodeBody(s *shape, body []byte, v reflect.Value) error {
	d := decoder{data: body}
	d.skipSpace()
	if d.pos == len(d.data) {
		return nil
	}
	switch c := d.data[d.pos]; c {
	case '{':
		if err := d.parseStruct(s, v); err != nil {
			return err
		}
	case 'n':
		if err := d.literal("null"); err != nil {
			return err
		}
	default:
		if t := d.tokenType(); t != "" {
			return serialization("The request body must be a JSON object, got %s", t)
		}
		return d.syntaxError("unexpected character %q", rune(c))
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return d.syntaxError("unexpected data after the top-level object")
	}
	return nil
}

// decoder is a JSON parser driven by the model: it reads each value as the
// shape expects and stores it through reflection, skipping (but still
// checking) members the model does not know.
type decoder struct {
	data  []byte
	pos   int
	depth int
	path  []pathElem // where the parser is, for messages
}

// pathElem is one step of a member path: a member name, a list index, or
// a map key.
type pathElem struct {
	name  string
	index int // list index, when isIndex
	isKey bool
	isIdx bool
}

// memberPath renders the path as the wire spells it, with zero-based list
// indexes and quoted map keys: LookupAttributes[0].AttributeKey.
func (d *decoder) memberPath() string {
	var b strings.Builder
	for i, e := range d.path {
		switch {
		case e.isIdx:
			fmt.Fprintf(&b, "[%d]", e.index)
		case e.isKey:
			fmt.Fprintf(&b, "[%s]", strconv.Quote(truncate(e.name, 64)))
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.name)
		}
	}
	return b.String()
}

func serialization(format string, args ...any) error {
	return opentrail.Errorf(opentrail.CodeSerialization, format, args...)
}

func (d *decoder) syntaxError(format string, args ...any) error {
	if d.pos >= len(d.data) {
		return serialization("Malformed JSON in request body: unexpected end of input")
	}
	return serialization("Malformed JSON in request body at byte %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) typeError(s *shape) error {
	got := d.tokenType()
	if got == "" {
		return d.syntaxError("unexpected character %q", rune(d.data[d.pos]))
	}
	return serialization("Expected %s for member '%s', got %s", kindNames[s.kind], d.memberPath(), got)
}

var kindNames = [...]string{
	kindStructure: "object",
	kindList:      "array",
	kindMap:       "object",
	kindString:    "string",
	kindBoolean:   "boolean",
	kindInteger:   "integer",
	kindLong:      "integer",
	kindFloat:     "number",
	kindDouble:    "number",
	kindBlob:      "base64-encoded string",
	kindTimestamp: "timestamp (epoch seconds as a JSON number)",
}

// tokenType names the JSON type of the value at d.pos, or "" if no JSON
// value starts there.
func (d *decoder) tokenType() string {
	if d.pos >= len(d.data) {
		return ""
	}
	return jsonTypeName(d.data[d.pos:])
}

func jsonTypeName(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	switch c := b[0]; {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || isDigit(c):
		return "number"
	}
	return ""
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// next returns the byte at d.pos after white space, or 0 at the end.
func (d *decoder) next() byte {
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) literal(lit string) error {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return d.syntaxError("invalid literal")
	}
	d.pos += len(lit)
	return nil
}

// enter and leave bracket the parsing of an object or array.
func (d *decoder) enter() error {
	d.depth++
	if d.depth > MaxDepth {
		return serialization("Request body nests objects and arrays deeper than %d levels", MaxDepth)
	}
	d.pos++ // '{' or '['
	return nil
}

func (d *decoder) leave() {
	d.depth--
	d.pos++ // '}' or ']'
}

// scanString checks the JSON string at d.pos and moves past it. It returns
// the bytes between the quotes and whether they must be unescaped (escapes,
// or bytes that are not ASCII).
func (d *decoder) scanString() (raw []byte, plain bool, err error) {
	start := d.pos + 1
	plain = true
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return d.data[start:i], plain, nil
		case c == '\\':
			plain = false
			if i+1 >= len(d.data) {
				d.pos = len(d.data)
				return nil, false, d.syntaxError("unterminated string")
			}
			switch d.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(d.data) || !isHex(d.data[i+2]) || !isHex(d.data[i+3]) || !isHex(d.data[i+4]) || !isHex(d.data[i+5]) {
					d.pos = i
					return nil, false, d.syntaxError("invalid \\u escape in string")
				}
				i += 5
			default:
				d.pos = i
				return nil, false, d.syntaxError("invalid escape in string")
			}
		case c < 0x20:
			d.pos = i
			return nil, false, d.syntaxError("control character in string")
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	d.pos = len(d.data)
	return nil, false, d.syntaxError("unterminated string")
}

// readString reads the JSON string at d.pos. Escapes are decoded as
// encoding/json does: lone surrogates and invalid UTF-8 become U+FFFD.
func (d *decoder) readString() (string, error) {
	start := d.pos
	raw, plain, err := d.scanString()
	if err != nil {
		return "", err
	}
	if plain || (!containsByte(raw, '\\') && utf8.Valid(raw)) {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(d.data[start:d.pos], &s); err != nil {
		d.pos = start
		return "", d.syntaxError("invalid string")
	}
	return s, nil
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber returns the end of the JSON number that starts at b[i], or -1
// if none does. The grammar is JSON's: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

func (d *decoder) readNumber() ([]byte, error) {
	end := scanNumber(d.data, d.pos)
	if end < 0 {
		return nil, d.syntaxError("invalid number")
	}
	raw := d.data[d.pos:end]
	d.pos = end
	return raw, nil
}

// parseStruct reads the object at d.pos into v, a struct whose fields are
// the members of s in order.
func (d *decoder) parseStruct(s *shape, v reflect.Value) error {
	if err := d.enter(); err != nil {
		return err
	}
	if d.next() == '}' {
		d.leave()
		return nil
	}
	for {
		if d.next() != '"' {
			return d.syntaxError("expected a member name")
		}
		start := d.pos
		raw, plain, err := d.scanString()
		if err != nil {
			return err
		}
		j, known := s.memberIndex[string(raw)]
		if !plain {
			d.pos = start
			name, err := d.readString()
			if err != nil {
				return err
			}
			j, known = s.memberIndex[name]
		}
		if d.next() != ':' {
			return d.syntaxError("expected ':' after member name")
		}
		d.pos++
		d.skipSpace()
		if known {
			m := &s.members[j]
			d.path = append(d.path, pathElem{name: m.name})
			if err := d.parseMember(m.shape, v.Field(j)); err != nil {
				return err
			}
			d.path = d.path[:len(d.path)-1]
		} else if err := d.skipValue(); err != nil {
			return err
		}
		switch d.next() {
		case ',':
			d.pos++
		case '}':
			d.leave()
			return nil
		default:
			return d.syntaxError("expected ',' or '}' after object member")
		}
	}
}

// parseMember reads a member value into field f: JSON null makes the
// member absent, anything else is stored, behind a new pointer for pointer
// fields.
func (d *decoder) parseMember(s *shape, f reflect.Value) error {
	if d.pos < len(d.data) && d.data[d.pos] == 'n' {
		if err := d.literal("null"); err != nil {
			return err
		}
		f.SetZero()
		return nil
	}
	if f.Kind() == reflect.Pointer {
		p := reflect.New(f.Type().Elem())
		if err := d.parseValue(s, p.Elem()); err != nil {
			return err
		}
		f.Set(p)
		return nil
	}
	return d.parseValue(s, f)
}

// parseValue reads the value at d.pos (after white space, not null) as
// shape s into v.
func (d *decoder) parseValue(s *shape, v reflect.Value) error {
	if d.pos >= len(d.data) {
		return d.syntaxError("")
	}
	c := d.data[d.pos]
	switch s.kind {
	case kindStructure:
		if c != '{' {
			return d.typeError(s)
		}
		return d.parseStruct(s, v)

	case kindList:
		if c != '[' {
			return d.typeError(s)
		}
		return d.parseList(s, v)

	case kindMap:
		if c != '{' {
			return d.typeError(s)
		}
		return d.parseMap(s, v)

	case kindString, kindBlob:
		if c != '"' {
			return d.typeError(s)
		}
		str, err := d.readString()
		if err != nil {
			return err
		}
		if s.kind == kindString {
			v.SetString(str)
			return nil
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return serialization("Expected base64-encoded string for member '%s': %v", d.memberPath(), err)
		}
		v.SetBytes(b)
		return nil

	case kindBoolean:
		switch c {
		case 't':
			if err := d.literal("true"); err != nil {
				return err
			}
			v.SetBool(true)
		case 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
			v.SetBool(false)
		default:
			return d.typeError(s)
		}
		return nil

	case kindInteger, kindLong, kindFloat, kindDouble, kindTimestamp:
		if c != '-' && !isDigit(c) {
			return d.typeError(s)
		}
		raw, err := d.readNumber()
		if err != nil {
			return err
		}
		return d.setNumber(s, v, raw)
	}
	return serialization("Unsupported shape %s for member '%s'", s.name, d.memberPath())
}

func (d *decoder) setNumber(s *shape, v reflect.Value, raw []byte) error {
	switch s.kind {
	case kindInteger, kindLong:
		for _, c := range raw {
			if c == '.' || c == 'e' || c == 'E' {
				return serialization("Expected integer for member '%s', got number %s", d.memberPath(), truncate(string(raw), 64))
			}
		}
		bits := 32
		if s.kind == kindLong {
			bits = 64
		}
		n, err := strconv.ParseInt(string(raw), 10, bits)
		if err != nil {
			return serialization("Value %s for member '%s' is out of range for a %d-bit integer", truncate(string(raw), 64), d.memberPath(), bits)
		}
		v.SetInt(n)
	case kindFloat, kindDouble:
		bits := 64
		if s.kind == kindFloat {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(raw), bits)
		if err != nil {
			return serialization("Value %s for member '%s' is out of range for a %d-bit float", truncate(string(raw), 64), d.memberPath(), bits)
		}
		v.SetFloat(f)
	case kindTimestamp:
		t, ok := parseEpoch(raw)
		if !ok {
			return serialization("Timestamp %s for member '%s' is out of range (years 1 to 9999)", truncate(string(raw), 64), d.memberPath())
		}
		v.Set(reflect.ValueOf(Timestamp{Time: t}))
	}
	return nil
}

func (d *decoder) parseList(s *shape, v reflect.Value) error {
	if err := d.enter(); err != nil {
		return err
	}
	list := reflect.MakeSlice(v.Type(), 0, 0)
	if d.next() == ']' {
		d.leave()
		v.Set(list)
		return nil
	}
	elemType := v.Type().Elem()
	for i := 0; ; i++ {
		if d.next() == 'n' {
			if err := d.literal("null"); err != nil {
				return err
			}
		} else {
			e := reflect.New(elemType).Elem()
			d.path = append(d.path, pathElem{index: i, isIdx: true})
			if err := d.parseValue(s.elemShape, e); err != nil {
				return err
			}
			d.path = d.path[:len(d.path)-1]
			list = reflect.Append(list, e)
		}
		switch d.next() {
		case ',':
			d.pos++
		case ']':
			d.leave()
			v.Set(list)
			return nil
		default:
			return d.syntaxError("expected ',' or ']' after array element")
		}
	}
}

func (d *decoder) parseMap(s *shape, v reflect.Value) error {
	if err := d.enter(); err != nil {
		return err
	}
	m := reflect.MakeMap(v.Type())
	if d.next() == '}' {
		d.leave()
		v.Set(m)
		return nil
	}
	keyType, valueType := v.Type().Key(), v.Type().Elem()
	for {
		if d.next() != '"' {
			return d.syntaxError("expected a map key")
		}
		key, err := d.readString()
		if err != nil {
			return err
		}
		if d.next() != ':' {
			return d.syntaxError("expected ':' after map key")
		}
		d.pos++
		if d.next() == 'n' {
			if err := d.literal("null"); err != nil {
				return err
			}
		} else {
			e := reflect.New(valueType).Elem()
			d.path = append(d.path, pathElem{name: key, isKey: true})
			if err := d.parseValue(s.valueShape, e); err != nil {
				return err
			}
			d.path = d.path[:len(d.path)-1]
			m.SetMapIndex(reflect.ValueOf(key).Convert(keyType), e)
		}
		switch d.next() {
		case ',':
			d.pos++
		case '}':
			d.leave()
			v.Set(m)
			return nil
		default:
			return d.syntaxError("expected ',' or '}' after map entry")
		}
	}
}

// skipValue checks and moves past the JSON value at d.pos (after white
// space): the value of a member the model does not know.
func (d *decoder) skipValue() error {
	if d.pos >= len(d.data) {
		return d.syntaxError("")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		if err := d.enter(); err != nil {
			return err
		}
		if d.next() == '}' {
			d.leave()
			return nil
		}
		for {
			if d.next() != '"' {
				return d.syntaxError("expected a member name")
			}
			if _, _, err := d.scanString(); err != nil {
				return err
			}
			if d.next() != ':' {
				return d.syntaxError("expected ':' after member name")
			}
			d.pos++
			d.skipSpace()
			if err := d.skipValue(); err != nil {
				return err
			}
			switch d.next() {
			case ',':
				d.pos++
			case '}':
				d.leave()
				return nil
			default:
				return d.syntaxError("expected ',' or '}' after object member")
			}
		}
	case c == '[':
		if err := d.enter(); err != nil {
			return err
		}
		if d.next() == ']' {
			d.leave()
			return nil
		}
		for {
			d.skipSpace()
			if err := d.skipValue(); err != nil {
				return err
			}
			switch d.next() {
			case ',':
				d.pos++
			case ']':
				d.leave()
				return nil
			default:
				return d.syntaxError("expected ',' or ']' after array element")
			}
		}
	case c == '"':
		_, _, err := d.scanString()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || isDigit(c):
		_, err := d.readNumber()
		return err
	}
	return d.syntaxError("unexpected character %q", rune(d.data[d.pos]))
}

// truncate shortens s to at most n bytes (on a rune boundary) for quoting
// client input in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
