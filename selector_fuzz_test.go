package opentrail_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opentrail/opentrail"
)

// refMatch is a deliberately plain reading of the selector rules, working
// on the selectors as given: no compilation, no shortcuts. Match must agree
// with it for every set of selectors that validates.
func refMatch(basic []opentrail.EventSelector, advanced []opentrail.AdvancedEventSelector, s *opentrail.Summary) bool {
	if len(basic) == 0 && len(advanced) == 0 {
		return s.Category == "Management"
	}
	for _, b := range basic {
		if refBasic(b, s) {
			return true
		}
	}
	for _, a := range advanced {
		if refAdvanced(a, s) {
			return true
		}
	}
	return false
}

func refReadWrite(rw string, readOnly *bool) bool {
	switch rw {
	case "ReadOnly":
		return readOnly != nil && *readOnly
	case "WriteOnly":
		return readOnly != nil && !*readOnly
	}
	return true
}

func refARN(r opentrail.Resource) string {
	if r.ARN == "" {
		return r.ARNPrefix
	}
	return r.ARN
}

func refBasic(b opentrail.EventSelector, s *opentrail.Summary) bool {
	if !refReadWrite(b.ReadWriteType, s.ReadOnly) {
		return false
	}
	if s.Category == "Management" {
		if b.IncludeManagementEvents != nil && !*b.IncludeManagementEvents {
			return false
		}
		for _, src := range b.ExcludeManagementEventSources {
			if src == s.EventSource {
				return false
			}
		}
		return true
	}
	if s.Category != "Data" {
		return false
	}
	for _, dr := range b.DataResources {
		for _, r := range s.RecordResources {
			if r.Type != dr.Type {
				continue
			}
			for _, v := range dr.Values {
				// S3 values and the "all" values (arn:aws:lambda, with
				// no region or account) are prefixes; others are exact.
				prefix := dr.Type == "AWS::S3::Object" || strings.Count(v, ":") == 2
				if prefix && strings.HasPrefix(refARN(r), v) || refARN(r) == v {
					return true
				}
			}
		}
	}
	return false
}

// refField reports whether value v satisfies a field selector.
func refField(fs opentrail.FieldSelector, v string) bool {
	anyOf := func(vals []string, f func(string, string) bool) bool {
		for _, x := range vals {
			if f(v, x) {
				return true
			}
		}
		return false
	}
	equal := func(a, b string) bool { return a == b }
	positives := len(fs.Equals) + len(fs.StartsWith) + len(fs.EndsWith)
	if positives > 0 && !anyOf(fs.Equals, equal) && !anyOf(fs.StartsWith, strings.HasPrefix) && !anyOf(fs.EndsWith, strings.HasSuffix) {
		return false
	}
	return !anyOf(fs.NotEquals, equal) && !anyOf(fs.NotStartsWith, strings.HasPrefix) && !anyOf(fs.NotEndsWith, strings.HasSuffix)
}

func refAdvanced(a opentrail.AdvancedEventSelector, s *opentrail.Summary) bool {
	var onResources []opentrail.FieldSelector
	for _, fs := range a.FieldSelectors {
		var v string
		switch fs.Field {
		case "eventCategory":
			v = s.Category
		case "readOnly":
			if s.ReadOnly == nil {
				return false
			}
			v = "false"
			if *s.ReadOnly {
				v = "true"
			}
		case "eventSource":
			v = s.EventSource
		case "eventName":
			v = s.EventName
		case "eventType":
			v = s.EventType
		case "userIdentity.arn":
			v = s.UserARN
		case "errorCode":
			v = s.ErrorCode
		case "vpcEndpointId":
			v = s.VPCEndpointID
		case "sessionCredentialFromConsole":
			v = "false"
			if s.SessionCredentialFromConsole == "true" {
				v = "true"
			}
		case "resources.type", "resources.ARN":
			onResources = append(onResources, fs)
			continue
		}
		if !refField(fs, v) {
			return false
		}
	}
	if len(onResources) == 0 {
		return true
	}
	for _, r := range s.RecordResources {
		all := true
		for _, fs := range onResources {
			v := r.Type
			if fs.Field == "resources.ARN" {
				v = refARN(r)
			}
			all = all && refField(fs, v)
		}
		if all {
			return true
		}
	}
	return false
}

// fuzzCase is one fuzz input: a trail's or store's selectors and events.
type fuzzCase struct {
	Store    bool
	Basic    []opentrail.EventSelector
	Advanced []opentrail.AdvancedEventSelector
	Events   []opentrail.Summary
}

// gen builds a fuzzCase from bytes, choosing among values that make valid
// and matching selectors likely, so the property check has work to do.
type gen struct {
	b []byte
	i int
}

func (g *gen) next() int {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return int(g.b[g.i-1])
}

func (g *gen) pick(list ...string) string { return list[g.next()%len(list)] }

func (g *gen) some(max int, list ...string) []string {
	n := g.next() % (max + 1)
	if n == 0 && g.next()%4 == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = g.pick(list...)
	}
	return out
}

var (
	fuzzCategories = []string{"Management", "Data", "NetworkActivity", "Insight", "ActivityAuditLog", "ConfigurationItem", "Evidence", "Bogus"}
	fuzzSources    = []string{"kms.amazonaws.com", "rdsdata.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com", "s3", ".amazonaws.com"}
	fuzzNames      = []string{"GetObject", "PutObject", "Get", "Object", "Invoke", "ListKeys", "DescribeInstances", "Describe"}
	fuzzTypes      = []string{"AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SNS::Topic", "S3"}
	fuzzARNs       = []string{"arn:aws:s3:::bucket1/", "arn:aws:s3:::bucket1/a.txt", "arn:aws:s3:::bucket1", "arn:aws:s3:::bucket10/a.txt",
		"arn:aws:s3", "arn:aws:s3:::", "arn:aws:lambda", "arn:aws:dynamodb", helloARN, hello2ARN, tableARN,
		"arn:aws:sns:us-east-1:123456789012:topic", ".txt", "arn:aws:s3:::*", "arn:"}
	fuzzUsers  = []string{"arn:aws:iam::123456789012:user/alice", "arn:aws:sts::123456789012:assumed-role/HumanRole/x", "HumanRole/x", "arn:aws:", ""}
	fuzzFields = []string{"eventCategory", "readOnly", "eventSource", "eventName", "eventType", "resources.type", "resources.ARN",
		"sessionCredentialFromConsole", "userIdentity.arn", "errorCode", "vpcEndpointId", "awsRegion", "bad-name"}
)

func (g *gen) valuesFor(field string) []string {
	switch field {
	case "eventCategory":
		return fuzzCategories
	case "readOnly", "sessionCredentialFromConsole":
		return []string{"true", "false", "yes"}
	case "eventSource":
		return fuzzSources
	case "eventName":
		return fuzzNames
	case "eventType":
		return []string{"AwsApiCall", "AwsServiceEvent", "Aws"}
	case "resources.type":
		return fuzzTypes
	case "resources.ARN":
		return fuzzARNs
	case "userIdentity.arn":
		return fuzzUsers
	case "errorCode":
		return []string{"VpceAccessDenied", "AccessDenied"}
	case "vpcEndpointId":
		return []string{"vpce-1", "vpce-", "1"}
	}
	return []string{"x"}
}

func (g *gen) fieldSelector(field string) opentrail.FieldSelector {
	vals := g.valuesFor(field)
	fs := opentrail.FieldSelector{Field: field}
	// Equals is the most common operator by far; the others appear less.
	fs.Equals = g.some(2, vals...)
	if g.next()%3 == 0 {
		fs.StartsWith = g.some(2, vals...)
	}
	if g.next()%4 == 0 {
		fs.EndsWith = g.some(1, vals...)
	}
	if g.next()%3 == 0 {
		fs.NotEquals = g.some(2, vals...)
	}
	if g.next()%3 == 0 {
		fs.NotStartsWith = g.some(2, vals...)
	}
	if g.next()%4 == 0 {
		fs.NotEndsWith = g.some(1, vals...)
	}
	return fs
}

func (g *gen) advanced() opentrail.AdvancedEventSelector {
	cat := g.pick(fuzzCategories...)
	a := opentrail.AdvancedEventSelector{FieldSelectors: []opentrail.FieldSelector{{Field: "eventCategory", Equals: []string{cat}}}}
	if g.next()%8 == 0 {
		a.FieldSelectors[0] = g.fieldSelector("eventCategory")
	}
	switch cat {
	case "Data":
		a.FieldSelectors = append(a.FieldSelectors, opentrail.FieldSelector{Field: "resources.type", Equals: []string{g.pick(fuzzTypes...)}})
	case "NetworkActivity":
		a.FieldSelectors = append(a.FieldSelectors, opentrail.FieldSelector{Field: "eventSource", Equals: []string{g.pick(fuzzSources...)}})
	}
	for n := g.next() % 4; n > 0; n-- {
		a.FieldSelectors = append(a.FieldSelectors, g.fieldSelector(g.pick(fuzzFields...)))
	}
	return a
}

func (g *gen) basic() opentrail.EventSelector {
	b := opentrail.EventSelector{ReadWriteType: g.pick("", "All", "ReadOnly", "WriteOnly", "", "read-only")}
	switch g.next() % 3 {
	case 1:
		b.IncludeManagementEvents = ptr(true)
	case 2:
		b.IncludeManagementEvents = ptr(false)
	}
	b.ExcludeManagementEventSources = g.some(1, "kms.amazonaws.com", "rdsdata.amazonaws.com", "kms.amazonaws.com", "s3.amazonaws.com")
	for n := g.next() % 3; n > 0; n-- {
		b.DataResources = append(b.DataResources, opentrail.DataResource{
			Type: g.pick("AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::S3::Object", "AWS::S3::Bucket"),
			Values: g.some(3, "arn:aws:s3:::bucket1/", "arn:aws:s3:::bucket1/a", "arn:aws:s3", "arn:aws:s3:::",
				"arn:aws:lambda", "arn:aws:dynamodb", helloARN, tableARN, "arn:aws:s3:::bucket1"),
		})
	}
	return b
}

func (g *gen) event() opentrail.Summary {
	s := opentrail.Summary{
		Category:                     g.pick(fuzzCategories...),
		EventSource:                  g.pick(fuzzSources...),
		EventName:                    g.pick(fuzzNames...),
		EventType:                    g.pick("AwsApiCall", "AwsServiceEvent", "AwsVpceEvent"),
		UserARN:                      g.pick(fuzzUsers...),
		ErrorCode:                    g.pick("", "VpceAccessDenied", "AccessDenied"),
		SessionCredentialFromConsole: g.pick("", "true", "false"),
		VPCEndpointID:                g.pick("", "vpce-1", "vpce-2"),
	}
	switch g.next() % 3 {
	case 1:
		s.ReadOnly = ptr(true)
	case 2:
		s.ReadOnly = ptr(false)
	}
	for n := g.next() % 3; n > 0; n-- {
		r := opentrail.Resource{Type: g.pick(fuzzTypes...)}
		if g.next()%4 == 0 {
			r.ARNPrefix = g.pick(fuzzARNs...)
		} else {
			r.ARN = g.pick(fuzzARNs...)
		}
		s.RecordResources = append(s.RecordResources, r)
	}
	return s
}

// decodeFuzzCase reads a JSON fuzzCase when data starts with '{', and
// otherwise builds one with gen.
func decodeFuzzCase(data []byte) (fuzzCase, bool) {
	var c fuzzCase
	if len(data) > 0 && data[0] == '{' {
		return c, json.Unmarshal(data, &c) == nil
	}
	g := &gen{b: data}
	switch g.next() % 3 {
	case 0:
		for n := g.next() % 4; n > 0; n-- {
			c.Basic = append(c.Basic, g.basic())
		}
	case 1:
		for n := g.next() % 4; n > 0; n-- {
			c.Advanced = append(c.Advanced, g.advanced())
		}
	case 2:
		c.Store = true
		for n := g.next() % 4; n > 0; n-- {
			c.Advanced = append(c.Advanced, g.advanced())
		}
	}
	for n := 1 + g.next()%6; n > 0; n-- {
		c.Events = append(c.Events, g.event())
	}
	return c, true
}

func FuzzSelectors(f *testing.F) {
	seeds := []fuzzCase{
		{Basic: []opentrail.EventSelector{{ReadWriteType: "ReadOnly", DataResources: []opentrail.DataResource{
			{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::bucket1/"}}}}},
			Events: []opentrail.Summary{*getImage, *describe, *putImage}},
		{Advanced: []opentrail.AdvancedEventSelector{
			{FieldSelectors: []opentrail.FieldSelector{{Field: "eventCategory", Equals: []string{"Management"}},
				{Field: "eventSource", NotEquals: []string{"kms.amazonaws.com"}}}},
			{FieldSelectors: []opentrail.FieldSelector{{Field: "eventCategory", Equals: []string{"Data"}},
				{Field: "resources.type", Equals: []string{"AWS::S3::Object"}},
				{Field: "resources.ARN", NotStartsWith: []string{"arn:aws:s3:::bucket1/"}}}}},
			Events: []opentrail.Summary{*getOther, *getImage, *kmsDecrypt, *runInst}},
		{Store: true, Advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
			{Field: "eventCategory", Equals: []string{"ActivityAuditLog"}}}}},
			Events: []opentrail.Summary{*activity, *describe}},
		{Advanced: []opentrail.AdvancedEventSelector{{FieldSelectors: []opentrail.FieldSelector{
			{Field: "eventCategory", Equals: []string{"NetworkActivity"}}, {Field: "eventSource", Equals: []string{"kms.amazonaws.com"}},
			{Field: "errorCode", Equals: []string{"VpceAccessDenied"}}}}},
			Events: []opentrail.Summary{*kmsDenied, *kmsAllowed}},
	}
	for _, c := range seeds {
		b, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 2, 1, 0, 3, 1, 2, 0, 1, 1, 4, 5})
	f.Add([]byte{1, 3, 1, 0, 0, 2, 7, 1, 3, 3, 0, 2, 1, 9, 4})
	f.Add([]byte{2, 2, 4, 5, 3, 0, 1, 2, 2, 6, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ok := decodeFuzzCase(data)
		if !ok {
			return
		}
		check := func(err error) {
			var e *opentrail.Error
			if err != nil && (!errors.As(err, &e) || e.Code != "InvalidEventSelectorsException" || e.Message == "") {
				t.Fatalf("validation returned %#v, want nil or an InvalidEventSelectorsException", err)
			}
		}
		var verr, cerr error
		var m *opentrail.Matcher
		if c.Store {
			verr = opentrail.ValidateStoreSelectors(c.Advanced)
			m, cerr = opentrail.CompileStoreSelectors(c.Advanced)
		} else {
			verr = opentrail.ValidateTrailSelectors(c.Basic, c.Advanced)
			m, cerr = opentrail.CompileTrailSelectors(c.Basic, c.Advanced)
		}
		check(verr)
		check(cerr)
		none := len(c.Basic) == 0 && len(c.Advanced) == 0
		if (cerr == nil) != (verr == nil || none) || (m == nil) != (cerr != nil) {
			t.Fatalf("compile = %v, %v; validate = %v", m, cerr, verr)
		}
		if m == nil {
			return
		}
		for i := range c.Events {
			s := &c.Events[i]
			if got, want := m.Match(s), refMatch(c.Basic, c.Advanced, s); got != want {
				t.Fatalf("Match(event %d %+v) = %v, reference evaluator says %v", i, *s, got, want)
			}
		}
	})
}

// BenchmarkMatch measures a trail with five typical advanced selectors over
// a mix of management and data events.
func BenchmarkMatch(b *testing.B) {
	m, err := opentrail.CompileTrailSelectors(nil, []opentrail.AdvancedEventSelector{
		{Name: "Write management events, no KMS or RDS Data", FieldSelectors: []opentrail.FieldSelector{
			category("Management"), eq("readOnly", "false"),
			{Field: "eventSource", NotEquals: []string{"kms.amazonaws.com", "rdsdata.amazonaws.com"}}}},
		{Name: "Uploads and deletes under two prefixes", FieldSelectors: []opentrail.FieldSelector{
			category("Data"), eq("resources.type", s3Object), eq("eventName", "PutObject", "DeleteObject", "CopyObject"),
			{Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::" + bucket1 + "/uploads/", "arn:aws:s3:::" + bucket1 + "/example-images/"}}}},
		{Name: "S3 data events except the log bucket", FieldSelectors: []opentrail.FieldSelector{
			category("Data"), eq("resources.type", s3Object),
			{Field: "resources.ARN", NotStartsWith: []string{"arn:aws:s3:::log-bucket/", "arn:aws:s3:::cloudtrail-logs/"}},
			{Field: "userIdentity.arn", NotEndsWith: []string{"/LogDelivery"}}}},
		{Name: "Production functions", FieldSelectors: []opentrail.FieldSelector{
			category("Data"), eq("resources.type", lambdaFn),
			{Field: "resources.ARN", StartsWith: []string{"arn:aws:lambda:us-west-2:111111111111:function:prod-"}}}},
		{Name: "Table writes by people", FieldSelectors: []opentrail.FieldSelector{
			category("Data"), eq("resources.type", ddbTable), eq("readOnly", "false"),
			{Field: "userIdentity.arn", StartsWith: []string{"arn:aws:sts::" + acct + ":assumed-role/HumanRole/"}},
			{Field: "eventName", NotStartsWith: []string{"Describe", "List"}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	events := []*opentrail.Summary{describe, runInst, runInst, kmsDecrypt, rdsData, consoleIn,
		getImage, putImage, getDoc, getOther, s3Event("PutObject", "log-bucket", "AWSLogs/x.json.gz", false),
		listBucket, invokeHW, invoke("arn:aws:lambda:us-west-2:111111111111:function:prod-api"),
		ddbConsole, ddbService, kmsDenied}
	b.ReportAllocs()
	matched := 0
	for b.Loop() {
		for _, s := range events {
			if m.Match(s) {
				matched++
			}
		}
	}
	if matched == 0 {
		b.Fatal("nothing matched")
	}
	b.ReportMetric(float64(b.N)*float64(len(events))/b.Elapsed().Seconds(), "events/s")
}
