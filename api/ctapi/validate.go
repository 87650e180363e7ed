package ctapi

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opentrail/opentrail"
)

// validationOverrides names the exception CloudTrail reports, instead of
// InvalidParameterException, when a top-level request member fails the
// model's constraints. A rule applies to every operation that has the member
// and declares the exception in the model (so Name maps to
// InvalidTrailNameException on trail operations only); ops, when set,
// narrows it to those operations. The first matching rule wins. To add one,
// append a line.
var validationOverrides = []struct {
	ops    []string
	member string
	code   string
}{
	{member: "MaxResults", code: "InvalidMaxResultsException"},
	{member: "MaxQueryResults", code: "InvalidMaxResultsException"},
	{member: "NextToken", code: "InvalidNextTokenException"},
	{member: "NextToken", code: "InvalidTokenException"},
	{member: "LookupAttributes", code: "InvalidLookupAttributesException"},
	{member: "EventCategory", code: "InvalidEventCategoryException"},
	{member: "Name", code: "InvalidTrailNameException"},
	{member: "TrailName", code: "InvalidTrailNameException"},
	{member: "trailNameList", code: "InvalidTrailNameException"},
	{member: "S3BucketName", code: "InvalidS3BucketNameException"},
	{member: "S3KeyPrefix", code: "InvalidS3PrefixException"},
	{member: "SnsTopicName", code: "InvalidSnsTopicNameException"},
	{member: "KmsKeyId", code: "InvalidKmsKeyIdException"},
	{member: "CloudWatchLogsLogGroupArn", code: "InvalidCloudWatchLogsLogGroupArnException"},
	{member: "CloudWatchLogsRoleArn", code: "InvalidCloudWatchLogsRoleArnException"},
	{member: "TagsList", code: "InvalidTagParameterException"},
	{member: "Tags", code: "InvalidTagParameterException"},
	{member: "EventSelectors", code: "InvalidEventSelectorsException"},
	{member: "AdvancedEventSelectors", code: "InvalidEventSelectorsException"},
	{member: "InsightSelectors", code: "InvalidInsightSelectorsException"},
	{member: "QueryStatus", code: "InvalidQueryStatusException"},
	{member: "QueryStatement", code: "InvalidQueryStatementException"},
	{member: "Source", code: "InvalidSourceException"},
	{member: "ImportSource", code: "InvalidImportSourceException"},
}

// buildOverrides resolves validationOverrides into each operation.
func buildOverrides() {
	for _, op := range opsByName {
		for _, r := range validationOverrides {
			if r.ops != nil && !slices.Contains(r.ops, op.name) {
				continue
			}
			if _, ok := op.in.memberIndex[r.member]; !ok {
				continue
			}
			if _, ok := slices.BinarySearch(op.errors, r.code); !ok {
				continue
			}
			if op.overrides == nil {
				op.overrides = map[string]string{}
			}
			if _, set := op.overrides[r.member]; !set {
				op.overrides[r.member] = r.code
			}
		}
	}
}

// Limits on a validation message, which quotes client input: values are cut
// to maxValueEcho bytes, and at most maxViolations violations are listed
// (the count still covers all of them).
const (
	maxValueEcho  = 1024
	maxViolations = 100
)

// validate checks v, the decoded input of op, against the model's
// constraints and reports every violation in one error.
func validate(op *operation, v reflect.Value) error {
	var c checker
	c.structure(op.in, v, true)
	if c.count == 0 {
		return nil
	}
	code := opentrail.CodeInvalidParameter
	if o, ok := op.overrides[c.firstTop]; ok {
		code = o
	}
	var b strings.Builder
	if c.count == 1 {
		b.WriteString("1 validation error detected: ")
	} else {
		fmt.Fprintf(&b, "%d validation errors detected: ", c.count)
	}
	b.WriteString(strings.Join(c.msgs, "; "))
	if c.count > len(c.msgs) {
		fmt.Fprintf(&b, "; and %d more", c.count-len(c.msgs))
	}
	return &opentrail.Error{Code: code, Message: b.String()}
}

// checker walks a decoded value with its shape and collects violations.
type checker struct {
	path     []string // lowerCamel path segments: member, "1.member", map key
	count    int
	msgs     []string
	firstTop string // wire name of the top-level member of the first violation
	top      string // top-level member being checked
}

func (c *checker) pathString() string { return strings.Join(c.path, ".") }

// violate records that value v of shape s breaks constraint; a nil s
// stands for a missing value (Value null).
func (c *checker) violate(s *shape, v reflect.Value, constraint string) {
	c.count++
	if c.count == 1 {
		c.firstTop = c.top
	}
	if len(c.msgs) >= maxViolations {
		return // counted, not listed: rendering it would be wasted work
	}
	value := "null"
	if s != nil {
		value = quoteValue(s, v)
	}
	c.msgs = append(c.msgs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, c.pathString(), constraint))
}

// structure checks the members of v in model order. top is set for the
// request itself, whose members are the top-level ones.
func (c *checker) structure(s *shape, v reflect.Value, top bool) {
	for j := range s.members {
		m := &s.members[j]
		f := v.Field(j)
		if top {
			c.top = m.name
		}
		c.path = append(c.path, m.path)
		if isAbsent(f) {
			if m.required {
				c.violate(nil, reflect.Value{}, "Member must not be null")
			}
		} else {
			c.value(m.shape, reflect.Indirect(f))
		}
		c.path = c.path[:len(c.path)-1]
	}
}

func isAbsent(f reflect.Value) bool {
	switch f.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return f.IsNil()
	}
	return false
}

func (c *checker) value(s *shape, v reflect.Value) {
	switch s.kind {
	case kindStructure:
		c.structure(s, v, false)
	case kindList:
		for _, msg := range c.constraints(s, v) {
			c.violate(s, v, msg)
		}
		for i := range v.Len() {
			c.path = append(c.path, strconv.Itoa(i+1)+".member")
			c.value(s.elemShape, v.Index(i))
			c.path = c.path[:len(c.path)-1]
		}
	case kindMap:
		for _, msg := range c.constraints(s, v) {
			c.violate(s, v, msg)
		}
		c.mapEntries(s, v)
	default:
		for _, msg := range c.constraints(s, v) {
			c.violate(s, v, msg)
		}
	}
}

// mapEntries checks keys and values of a map. As AWS does, violations of
// scalar keys and values are reported once for the whole map:
// "Map keys must satisfy constraint: [Member must have length ...]".
func (c *checker) mapEntries(s *shape, v reflect.Value) {
	keys := v.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	var keyMsgs, valueMsgs []string
	add := func(list []string, msgs []string) []string {
		for _, m := range msgs {
			if !slices.Contains(list, m) {
				list = append(list, m)
			}
		}
		return list
	}
	scalarValues := s.valueShape.kind != kindStructure && s.valueShape.kind != kindList && s.valueShape.kind != kindMap
	for _, k := range keys {
		keyMsgs = add(keyMsgs, c.constraints(s.keyShape, k))
		if scalarValues {
			valueMsgs = add(valueMsgs, c.constraints(s.valueShape, v.MapIndex(k)))
			continue
		}
		c.path = append(c.path, k.String())
		c.value(s.valueShape, v.MapIndex(k))
		c.path = c.path[:len(c.path)-1]
	}
	if keyMsgs != nil {
		c.violate(s, v, "Map keys must satisfy constraint: ["+strings.Join(keyMsgs, ", ")+"]")
	}
	if valueMsgs != nil {
		c.violate(s, v, "Map value must satisfy constraint: ["+strings.Join(valueMsgs, ", ")+"]")
	}
}

// constraints returns the constraints of s (not of its elements) that v
// breaks, as AWS words them.
func (c *checker) constraints(s *shape, v reflect.Value) []string {
	var msgs []string
	length := func(n int64) {
		if s.bounds&hasMin != 0 && n < s.min {
			msgs = append(msgs, fmt.Sprintf("Member must have length greater than or equal to %d", s.min))
		}
		if s.bounds&hasMax != 0 && n > s.max {
			msgs = append(msgs, fmt.Sprintf("Member must have length less than or equal to %d", s.max))
		}
	}
	switch s.kind {
	case kindString:
		str := v.String()
		length(int64(utf8.RuneCountInString(str)))
		if s.re != nil && !s.re.MatchString(str) {
			msgs = append(msgs, "Member must satisfy regular expression pattern: "+s.pattern)
		}
		if s.enumSet != nil && !s.enumSet[str] {
			msgs = append(msgs, "Member must satisfy enum value set: ["+strings.Join(s.enum, ", ")+"]")
		}
	case kindList, kindMap, kindBlob:
		length(int64(v.Len()))
	case kindInteger, kindLong:
		n := v.Int()
		if s.bounds&hasMin != 0 && n < s.min {
			msgs = append(msgs, fmt.Sprintf("Member must have value greater than or equal to %d", s.min))
		}
		if s.bounds&hasMax != 0 && n > s.max {
			msgs = append(msgs, fmt.Sprintf("Member must have value less than or equal to %d", s.max))
		}
	case kindFloat, kindDouble:
		f := v.Float()
		if s.bounds&hasMin != 0 && f < float64(s.min) {
			msgs = append(msgs, fmt.Sprintf("Member must have value greater than or equal to %d", s.min))
		}
		if s.bounds&hasMax != 0 && f > float64(s.max) {
			msgs = append(msgs, fmt.Sprintf("Member must have value less than or equal to %d", s.max))
		}
	}
	return msgs
}

// quoteValue renders v for a message, in single quotes, the way AWS's Java
// validator prints it: lists as [a, b], maps as {k=v}, structures as
// {Member: value, ...}. Long renderings are cut.
func quoteValue(s *shape, v reflect.Value) string {
	b := appendValueText(make([]byte, 0, 64), s, v)
	if len(b) > maxValueEcho {
		return "'" + truncate(string(b), maxValueEcho) + "'"
	}
	return "'" + string(b) + "'"
}

func appendValueText(b []byte, s *shape, v reflect.Value) []byte {
	if len(b) > maxValueEcho {
		return b // the caller cuts it; stop rendering what nobody reads
	}
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
				b = append(b, ", "...)
			}
			first = false
			b = append(b, s.members[j].name...)
			b = append(b, ": "...)
			b = appendValueText(b, s.members[j].shape, reflect.Indirect(f))
		}
		return append(b, '}')
	case kindList:
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendValueText(b, s.elemShape, v.Index(i))
			if len(b) > maxValueEcho {
				break
			}
		}
		return append(b, ']')
	case kindMap:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, k.String()...)
			b = append(b, '=')
			b = appendValueText(b, s.valueShape, v.MapIndex(k))
			if len(b) > maxValueEcho {
				break
			}
		}
		return append(b, '}')
	case kindString:
		str := v.String()
		if room := maxValueEcho + utf8.UTFMax - len(b); len(str) > room {
			str = str[:room]
		}
		return append(b, str...)
	case kindBoolean:
		return strconv.AppendBool(b, v.Bool())
	case kindInteger, kindLong:
		return strconv.AppendInt(b, v.Int(), 10)
	case kindFloat:
		return strconv.AppendFloat(b, v.Float(), 'g', -1, 32)
	case kindDouble:
		return strconv.AppendFloat(b, v.Float(), 'g', -1, 64)
	case kindBlob:
		return fmt.Appendf(b, "(%d bytes)", v.Len())
	case kindTimestamp:
		return v.Interface().(Timestamp).UTC().AppendFormat(b, time.RFC3339Nano)
	}
	return b
}
