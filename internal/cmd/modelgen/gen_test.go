package main

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

func TestTranslatePattern(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`\d+`, `\d+`, true},
		{`^[a-zA-Z0-9._\-]+$`, `^[a-zA-Z0-9._\-]+$`, true},
		{`(?s).*`, `(?s).*`, true},
		{
			`[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*`,
			`[\x{20}-\x{D7FF}\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}\t]*`, true,
		},
		{`caf\u00e9`, `caf\x{E9}`, true},
		{`\\u0041`, `\\u0041`, true}, // a literal backslash, then "u0041": valid RE2 as is
		{`(?=a)b`, ``, false},        // lookahead: RE2 has none
		{`\uZZZZ`, ``, false},
	}
	for _, tt := range tests {
		got, _, ok := translatePattern(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("translatePattern(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestEnumIdent(t *testing.T) {
	tests := map[string]string{
		"ReadOnly":                     "ReadOnly",
		"API_ACTIVITY":                 "ApiActivity",
		"insight":                      "Insight",
		"EXTENDABLE_RETENTION_PRICING": "ExtendableRetentionPricing",
		"AWS::S3::Object":              "AwsS3Object",
		"2xx":                          "V2xx",
		"TIMED_OUT":                    "TimedOut",
	}
	for in, want := range tests {
		if got := enumIdent(in); got != want {
			t.Errorf("enumIdent(%q) = %q, want %q", in, got, want)
		}
	}
}

// model builds a botocore model from JSON shapes and operations.
func model(t *testing.T, shapes, ops string) *botoModel {
	t.Helper()
	src := `{"metadata":{"apiVersion":"2013-11-01","protocol":"json","jsonVersion":"1.1","targetPrefix":"com.example.Svc"},` +
		`"operations":` + ops + `,"shapes":` + shapes + `}`
	var m botoModel
	if err := json.Unmarshal([]byte(src), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

var smithyFixture = &smithyModel{ServiceName: "Svc_20131101", ErrorStatus: map[string]int{"NotFoundException": 404}}

const okOps = `{"Get":{"name":"Get","http":{"method":"POST","requestUri":"/"},"input":{"shape":"GetRequest"},"output":{"shape":"GetResponse"},"errors":[{"shape":"NotFoundException"},{"shape":"NewException"}]}}`

func TestGenerate(t *testing.T) {
	m := model(t, `{
		"GetRequest":{"type":"structure","required":["Name"],"members":{"Name":{"shape":"Name"},"when":{"shape":"Date"},"Mode":{"shape":"Mode"},"Tags":{"shape":"Tags"}}},
		"GetResponse":{"type":"structure","members":{}},
		"Name":{"type":"string","min":1,"max":10,"pattern":"^[a-z]+$"},
		"Date":{"type":"timestamp"},
		"Mode":{"type":"string","enum":["READ_ONLY","all"]},
		"Tags":{"type":"map","key":{"shape":"Name"},"value":{"shape":"Name"}},
		"NotFoundException":{"type":"structure","members":{},"exception":true},
		"NewException":{"type":"structure","members":{},"exception":true}
	}`, okOps)
	files, err := generate(m, smithyFixture)
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if !strings.HasPrefix(string(src), header) {
			t.Errorf("%s lacks the generated-code header", name)
		}
		if _, err := parser.ParseFile(token.NewFileSet(), name, src, 0); err != nil {
			t.Errorf("%s does not parse: %v", name, err)
		}
	}
	for name, wants := range map[string][]string{
		"types.go": {
			"Name *string `json:\"Name,omitzero\"` // required",
			"When *Timestamp `json:\"when,omitzero\"`", // a lower-case wire name, exported in Go
			"Mode *Mode ",
			"Tags map[string]string ",
			`ModeReadOnly Mode = "READ_ONLY"`,
			`ModeAll      Mode = "all"`,
			"type GetResponse struct{}",
		},
		"model.go": {
			"longTargetPrefix  = \"com.example.Svc\"",
			"shortTargetPrefix = \"Svc_20131101\"",
			"{name: \"Name\", kind: kindString, min: 1, max: 10, bounds: hasMin | hasMax, pattern: `^[a-z]+$`}",
			`{name: "Name", target: "Name", required: true}`,
			`errors: []string{"NewException", "NotFoundException"}`,
			`"NotFoundException": 404,`,
			`"NewException":      400, // not in the Smithy model`,
		},
	} {
		src := string(files[name])
		for _, w := range wants {
			if !strings.Contains(strings.Join(strings.Fields(src), " "), strings.Join(strings.Fields(w), " ")) {
				t.Errorf("%s lacks %q:\n%s", name, w, src)
			}
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	base := `"GetResponse":{"type":"structure","members":{}},
		"NotFoundException":{"type":"structure","members":{},"exception":true},
		"NewException":{"type":"structure","members":{},"exception":true}`
	tests := []struct {
		name, shapes, want string
	}{
		{"recursive", `{"GetRequest":{"type":"structure","members":{"Self":{"shape":"GetRequest"}}},` + base + `}`, "recursive shape"},
		{"unknown shape", `{"GetRequest":{"type":"structure","members":{"X":{"shape":"Nope"}}},` + base + `}`, "unknown shape Nope"},
		{"required not a member", `{"GetRequest":{"type":"structure","required":["X"],"members":{}},` + base + `}`, "required member X"},
		{"clash with hand-written code", `{"GetRequest":{"type":"structure","members":{"T":{"shape":"Timestamp"}}},"Timestamp":{"type":"structure","members":{}},` + base + `}`, "identifier Timestamp"},
		{"enum constant clash", `{"GetRequest":{"type":"structure","members":{"M":{"shape":"Mode"}}},"Mode":{"type":"string","enum":["A_B","A-B"]},` + base + `}`, "identifier ModeAB"},
		{"unsupported type", `{"GetRequest":{"type":"structure","members":{"X":{"shape":"D"}}},"D":{"type":"document"},` + base + `}`, "unsupported type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := generate(model(t, tt.shapes, okOps), smithyFixture)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("generate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
