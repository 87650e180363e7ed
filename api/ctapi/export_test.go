package ctapi

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// NewInput returns a new *<Op>Request for op, or nil for an unknown op.
func NewInput(op string) any {
	o, ok := opsByName[op]
	if !ok {
		return nil
	}
	return reflect.New(o.inType).Interface()
}

// ValidationCodes returns the codes a validation error of op may carry:
// InvalidParameterException and op's overrides, sorted.
func ValidationCodes(op string) []string {
	codes := []string{"InvalidParameterException"}
	for _, c := range opsByName[op].overrides {
		if !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	return codes
}

// Overrides returns op's resolved validation overrides: member -> code.
func Overrides(op string) map[string]string {
	return maps.Clone(opsByName[op].overrides)
}

// OverrideRules returns validationOverrides as (member, code) pairs.
func OverrideRules() [][2]string {
	var rules [][2]string
	for _, r := range validationOverrides {
		rules = append(rules, [2]string{r.member, r.code})
	}
	return rules
}

// CheckGoTypes verifies that the generated Go types match the shape table:
// field j of a struct is member j, under its wire name, with the Go type of
// its shape. Decode and the event renderers rely on it.
func CheckGoTypes() error {
	for _, op := range operationTable {
		if err := checkType(op.in, op.inType, op.name+" input"); err != nil {
			return err
		}
		if err := checkType(op.out, op.outType, op.name+" output"); err != nil {
			return err
		}
	}
	return nil
}

func checkType(s *shape, t reflect.Type, where string) error {
	want := func(ok bool) error {
		if !ok {
			return fmt.Errorf("%s: shape %s (kind %d) has Go type %s", where, s.name, s.kind, t)
		}
		return nil
	}
	switch s.kind {
	case kindStructure:
		if t.Kind() != reflect.Struct || t.Name() != s.name || t.NumField() != len(s.members) {
			return want(false)
		}
		for j, m := range s.members {
			f := t.Field(j)
			if tag := f.Tag.Get("json"); tag != m.name+",omitzero" {
				return fmt.Errorf("%s: field %s.%s has tag %q, want member %s", where, t.Name(), f.Name, tag, m.name)
			}
			ft := f.Type
			switch m.shape.kind {
			case kindList, kindMap, kindBlob:
				if ft.Kind() == reflect.Pointer {
					return fmt.Errorf("%s: field %s.%s is a pointer", where, t.Name(), f.Name)
				}
			default:
				if ft.Kind() != reflect.Pointer {
					return fmt.Errorf("%s: field %s.%s is not a pointer", where, t.Name(), f.Name)
				}
				ft = ft.Elem()
			}
			if err := checkType(m.shape, ft, where+"."+m.name); err != nil {
				return err
			}
		}
		return nil
	case kindList:
		if t.Kind() != reflect.Slice {
			return want(false)
		}
		return checkType(s.elemShape, t.Elem(), where+"[]")
	case kindMap:
		if t.Kind() != reflect.Map {
			return want(false)
		}
		if err := checkType(s.keyShape, t.Key(), where+" key"); err != nil {
			return err
		}
		return checkType(s.valueShape, t.Elem(), where+" value")
	case kindString:
		if s.enum != nil {
			return want(t.Kind() == reflect.String && t.Name() == s.name)
		}
		return want(t == reflect.TypeFor[string]())
	case kindBoolean:
		return want(t == reflect.TypeFor[bool]())
	case kindInteger:
		return want(t == reflect.TypeFor[int32]())
	case kindLong:
		return want(t == reflect.TypeFor[int64]())
	case kindFloat:
		return want(t == reflect.TypeFor[float32]())
	case kindDouble:
		return want(t == reflect.TypeFor[float64]())
	case kindBlob:
		return want(t == reflect.TypeFor[[]byte]())
	case kindTimestamp:
		return want(t == reflect.TypeFor[Timestamp]())
	}
	return want(false)
}
