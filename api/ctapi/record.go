package ctapi

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// eventTimeLayout is how a timestamp inside requestParameters or
// responseElements reads: US-English medium date and time in UTC, e.g.
// "Nov 24, 2026, 12:07:15 PM". This follows records seen from AWS; the exact
// format (time zone, the space before AM/PM, which newer Java releases
// write as U+202F) is unconfirmed.
const eventTimeLayout = "Jan 2, 2006, 3:04:05 PM"

// null is what RequestParameters and ResponseElements return when there is
// nothing to record.
var null = json.RawMessage("null")

// RequestParameters returns the requestParameters of the CloudTrail event
// that records a call of op with the given request body: the members the
// body sets, named as events name them (first letter lower-cased:
// S3BucketName -> s3BucketName, TagsList[].Key -> tagsList[].key), map keys
// as sent, timestamps as eventTimeLayout, blobs in base64. Members the model
// does not know, and null members, are left out.
//
// The body need not pass validation (events record failed calls too), but
// it must decode: for a body Decode rejects with a SerializationException,
// an unknown op, or a request with no members set, the result is JSON null.
// The result is never nil.
func RequestParameters(op string, body []byte) json.RawMessage {
	o, ok := opsByName[op]
	if !ok {
		return null
	}
	v := reflect.New(o.inType).Elem()
	if err := decodeBody(o.in, body, v); err != nil {
		return null
	}
	return record(o.in, v)
}

// ResponseElements returns the responseElements of the CloudTrail event that
// records a call of op answered with out, spelt as RequestParameters spells
// requests. out is normally the operation's response struct or a pointer to
// it; any other value is converted through its JSON encoding. It is JSON
// null for a nil out, an unknown op, a value that does not encode to the
// operation's response, or a response with no members set (AWS records
// null for operations such as StartLogging). The result is never nil.
//
// Whether an operation's response belongs in its event at all (AWS leaves
// it out for read-only calls) is the caller's decision.
func ResponseElements(op string, out any) json.RawMessage {
	o, ok := opsByName[op]
	if !ok || out == nil {
		return null
	}
	v := reflect.ValueOf(out)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return null
		}
		v = v.Elem()
	}
	if v.Type() != o.outType {
		b, err := json.Marshal(out)
		if err != nil {
			return null
		}
		v = reflect.New(o.outType).Elem()
		if err := decodeBody(o.out, b, v); err != nil {
			return null
		}
	}
	return record(o.out, v)
}

// record renders the top-level structure v, or null if it sets no member.
func record(s *shape, v reflect.Value) json.RawMessage {
	for j := range s.members {
		if !isAbsent(v.Field(j)) {
			return appendRecord(make([]byte, 0, 256), s, v)
		}
	}
	return null
}

func appendRecord(b []byte, s *shape, v reflect.Value) []byte {
	switch s.kind {
	case kindStructure:
		b = append(b, '{')
		first := true
		for j := range s.members {
			f := v.Field(j)
			if isAbsent(f) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, s.members[j].path)
			b = append(b, ':')
			b = appendRecord(b, s.members[j].shape, reflect.Indirect(f))
		}
		return append(b, '}')
	case kindList:
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendRecord(b, s.elemShape, v.Index(i))
		}
		return append(b, ']')
	case kindMap:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k.String())
			b = append(b, ':')
			b = appendRecord(b, s.valueShape, v.MapIndex(k))
		}
		return append(b, '}')
	case kindString:
		return appendJSONString(b, v.String())
	case kindBoolean:
		return strconv.AppendBool(b, v.Bool())
	case kindInteger, kindLong:
		return strconv.AppendInt(b, v.Int(), 10)
	case kindFloat, kindDouble:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		bits := 64
		if s.kind == kindFloat {
			bits = 32
		}
		return strconv.AppendFloat(b, f, 'g', -1, bits)
	case kindBlob:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"')
	case kindTimestamp:
		b = append(b, '"')
		b = v.Interface().(Timestamp).UTC().AppendFormat(b, eventTimeLayout)
		return append(b, '"')
	}
	return append(b, "null"...)
}

// appendJSONString appends s as a JSON string. Unlike encoding/json it
// leaves <, > and & alone, as CloudTrail records do; invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
