package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// botoModel is the part of a botocore service-2.json modelgen reads.
type botoModel struct {
	Metadata struct {
		APIVersion   string `json:"apiVersion"`
		Protocol     string `json:"protocol"`
		JSONVersion  string `json:"jsonVersion"`
		TargetPrefix string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]botoOperation `json:"operations"`
	Shapes     map[string]*botoShape    `json:"shapes"`
}

type botoOperation struct {
	Name   string     `json:"name"`
	Input  *botoRef   `json:"input"`
	Output *botoRef   `json:"output"`
	Errors []botoRef  `json:"errors"`
	HTTP   botoHTTPOp `json:"http"`
}

type botoHTTPOp struct {
	Method     string `json:"method"`
	RequestURI string `json:"requestUri"`
}

type botoRef struct {
	Shape string `json:"shape"`
}

type botoShape struct {
	Type      string       `json:"type"`
	Members   botoMembers  `json:"members"`
	Required  []string     `json:"required"`
	Member    *botoRef     `json:"member"`
	Key       *botoRef     `json:"key"`
	Value     *botoRef     `json:"value"`
	Min       *json.Number `json:"min"`
	Max       *json.Number `json:"max"`
	Pattern   *string      `json:"pattern"`
	Enum      []string     `json:"enum"`
	Exception bool         `json:"exception"`
}

// botoMembers keeps the members of a structure in model order: the order is
// the field order of the generated struct and the order validation reports
// violations in.
type botoMembers []botoMember

type botoMember struct {
	Name  string
	Shape string
}

func (ms *botoMembers) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("members: want an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("members: %w", err)
		}
		name := tok.(string) // object keys are always strings
		var ref botoRef
		if err := dec.Decode(&ref); err != nil {
			return fmt.Errorf("member %s: %w", name, err)
		}
		*ms = append(*ms, botoMember{Name: name, Shape: ref.Shape})
	}
	_, err := dec.Token()
	return err
}

func loadBotocore(path string) (*botoModel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m botoModel
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if m.Metadata.Protocol != "json" || m.Metadata.JSONVersion != "1.1" {
		return nil, fmt.Errorf("%s: protocol %s %s, want json 1.1", path, m.Metadata.Protocol, m.Metadata.JSONVersion)
	}
	if m.Metadata.TargetPrefix == "" {
		return nil, fmt.Errorf("%s: no targetPrefix", path)
	}
	return &m, nil
}

// smithyModel is what modelgen takes from the Smithy JSON AST: the service
// shape name and the HTTP status of each error shape.
type smithyModel struct {
	ServiceName string         // "CloudTrail_20131101"
	ErrorStatus map[string]int // shape name -> smithy.api#httpError
}

func loadSmithy(path string) (*smithyModel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ast struct {
		Shapes map[string]struct {
			Type   string                     `json:"type"`
			Traits map[string]json.RawMessage `json:"traits"`
		} `json:"shapes"`
	}
	if err := json.Unmarshal(b, &ast); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	sm := &smithyModel{ErrorStatus: map[string]int{}}
	for id, s := range ast.Shapes {
		_, name, ok := strings.Cut(id, "#")
		if !ok {
			return nil, fmt.Errorf("%s: shape id %q has no namespace", path, id)
		}
		if s.Type == "service" {
			if sm.ServiceName != "" {
				return nil, fmt.Errorf("%s: more than one service shape", path)
			}
			sm.ServiceName = name
		}
		if _, isErr := s.Traits["smithy.api#error"]; !isErr {
			continue
		}
		raw, ok := s.Traits["smithy.api#httpError"]
		if !ok {
			continue
		}
		var status int
		if err := json.Unmarshal(raw, &status); err != nil {
			return nil, fmt.Errorf("%s: httpError of %s: %w", path, name, err)
		}
		sm.ErrorStatus[name] = status
	}
	if sm.ServiceName == "" {
		return nil, fmt.Errorf("%s: no service shape", path)
	}
	return sm, nil
}
