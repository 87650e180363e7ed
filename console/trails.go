package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Trails: list with status, create, edit, selectors, start/stop, delete.

func (c *Console) trailRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"trails", c.signedIn(c.handleTrails))
	mux.HandleFunc("GET "+Prefix+"trails/new", c.signedIn(c.handleTrailNew))
	mux.HandleFunc("POST "+Prefix+"trails/new", c.post(c.handleTrailCreate))
	mux.HandleFunc("GET "+Prefix+"trails/detail", c.signedIn(c.handleTrail))
	mux.HandleFunc("GET "+Prefix+"trails/edit", c.signedIn(c.handleTrailEdit))
	mux.HandleFunc("POST "+Prefix+"trails/edit", c.post(c.handleTrailUpdate))
	mux.HandleFunc("POST "+Prefix+"trails/logging", c.post(c.handleTrailLogging))
	mux.HandleFunc("GET "+Prefix+"trails/delete", c.signedIn(c.handleTrailDeleteForm))
	mux.HandleFunc("POST "+Prefix+"trails/delete", c.post(c.handleTrailDelete))
}

func trailHref(arn string) string {
	return Prefix + "trails/detail?" + url.Values{"arn": {arn}}.Encode()
}

// trailRow is a trail with its status, as the list and detail show it.
type trailRow struct {
	Name, ARN, Href, HomeRegion, Bucket, BucketHref, Prefix, Topic, KMS string
	MultiRegion, Validation, Global, Shadow, Custom                     bool
	Logging                                                             bool
	LastDelivery, LastNotification, Started, Stopped                    time.Time
	DeliveryError, NotificationError                                    string
	StatusError                                                         *problem
}

func (c *Console) trailRow(r *http.Request, s *session, t types.Trail) trailRow {
	row := trailRow{Name: aws.ToString(t.Name), ARN: aws.ToString(t.TrailARN), HomeRegion: aws.ToString(t.HomeRegion),
		Bucket: aws.ToString(t.S3BucketName), Prefix: aws.ToString(t.S3KeyPrefix), Topic: aws.ToString(t.SnsTopicARN),
		KMS: aws.ToString(t.KmsKeyId), MultiRegion: aws.ToBool(t.IsMultiRegionTrail), Validation: aws.ToBool(t.LogFileValidationEnabled),
		Global: aws.ToBool(t.IncludeGlobalServiceEvents), Custom: aws.ToBool(t.HasCustomEventSelectors)}
	row.Href = trailHref(row.ARN)
	row.Shadow = row.HomeRegion != s.region()
	if row.Bucket != "" {
		row.BucketHref = Prefix + "buckets/b/" + url.PathEscape(row.Bucket) + "?" + url.Values{"prefix": {bucketPrefixOf(row)}}.Encode()
	}
	st, err := c.clients(s).ct.GetTrailStatus(c.forBrowser(r), &cloudtrail.GetTrailStatusInput{Name: aws.String(row.ARN)})
	if err != nil {
		row.StatusError = c.problemOf(r, err)
		return row
	}
	row.Logging = aws.ToBool(st.IsLogging)
	row.LastDelivery = aws.ToTime(st.LatestDeliveryTime)
	row.LastNotification = aws.ToTime(st.LatestNotificationTime)
	row.Started, row.Stopped = aws.ToTime(st.StartLoggingTime), aws.ToTime(st.StopLoggingTime)
	row.DeliveryError, row.NotificationError = aws.ToString(st.LatestDeliveryError), aws.ToString(st.LatestNotificationError)
	return row
}

// bucketPrefixOf is where a trail's log files are: PREFIX/AWSLogs/.
func bucketPrefixOf(t trailRow) string {
	if t.Prefix == "" {
		return "AWSLogs/"
	}
	return t.Prefix + "/AWSLogs/"
}

func (c *Console) handleTrails(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := c.clients(s).ct.DescribeTrails(c.forBrowser(r), &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var rows []trailRow
	for _, t := range out.TrailList {
		rows = append(rows, c.trailRow(r, s, t))
	}
	c.render(w, r, http.StatusOK, "trails.html", &view{Title: "Trails", Area: Prefix + "trails", Data: rows})
}

// describe fetches one trail by ARN.
func (c *Console) describe(r *http.Request, s *session, arn string) (*types.Trail, error) {
	out, err := c.clients(s).ct.GetTrail(c.forBrowser(r), &cloudtrail.GetTrailInput{Name: aws.String(arn)})
	if err != nil {
		return nil, err
	}
	return out.Trail, nil
}

type trailDetail struct {
	T         trailRow
	Selectors string // the selectors as JSON, as the CLI shows them
	Advanced  bool
}

func (c *Console) handleTrail(w http.ResponseWriter, r *http.Request, s *session) {
	arn := r.URL.Query().Get("arn")
	t, err := c.describe(r, s, arn)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := &trailDetail{T: c.trailRow(r, s, *t)}
	sel, err := c.clients(s).ct.GetEventSelectors(c.forBrowser(r), &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(arn)})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if len(sel.AdvancedEventSelectors) > 0 {
		d.Advanced = true
		d.Selectors = indentJSON(advancedToJSON(sel.AdvancedEventSelectors))
	} else {
		d.Selectors = indentJSON(basicToJSON(sel.EventSelectors))
	}
	c.render(w, r, http.StatusOK, "trail.html", &view{Title: d.T.Name, Area: Prefix + "trails", Data: d})
}

// trailForm is the create and edit form, as typed.
type trailForm struct {
	Edit                 bool
	ARN                  string
	Name                 string
	Bucket               string
	NewBucket            bool
	Prefix               string
	KMS                  string
	SNS                  string
	MultiRegion          bool
	Validation           bool
	StartLogging         bool
	Mode                 string // "basic" or "advanced"
	Management           bool
	ReadWrite            string // All, ReadOnly or WriteOnly
	ExcludeKMS           bool
	DataResources        string // one "Type value" per line
	Advanced             string // JSON
	ReadWriteTypes       []string
	ExampleDataResources string
}

const exampleAdvanced = `[
  {
    "Name": "Management events",
    "FieldSelectors": [
      {"Field": "eventCategory", "Equals": ["Management"]}
    ]
  }
]`

func newTrailForm() *trailForm {
	return &trailForm{NewBucket: true, MultiRegion: true, Validation: true, StartLogging: true, Mode: "basic",
		Management: true, ReadWrite: "All", Advanced: exampleAdvanced}
}

func (f *trailForm) fill() *trailForm {
	f.ReadWriteTypes = []string{"All", "ReadOnly", "WriteOnly"}
	f.ExampleDataResources = "AWS::S3::Object arn:aws:s3:::amzn-s3-demo-bucket/\nAWS::Lambda::Function arn:aws:lambda"
	return f
}

func readTrailForm(r *http.Request) *trailForm {
	on := func(k string) bool { return r.PostFormValue(k) != "" }
	f := &trailForm{
		ARN:           r.PostFormValue("arn"),
		Name:          strings.TrimSpace(r.PostFormValue("name")),
		Bucket:        strings.TrimSpace(r.PostFormValue("bucket")),
		NewBucket:     r.PostFormValue("bucket_mode") == "new",
		Prefix:        strings.TrimSpace(r.PostFormValue("prefix")),
		KMS:           strings.TrimSpace(r.PostFormValue("kms")),
		SNS:           strings.TrimSpace(r.PostFormValue("sns")),
		MultiRegion:   on("multi_region"),
		Validation:    on("validation"),
		StartLogging:  on("start_logging"),
		Mode:          r.PostFormValue("mode"),
		Management:    on("management"),
		ReadWrite:     r.PostFormValue("read_write"),
		ExcludeKMS:    on("exclude_kms"),
		DataResources: r.PostFormValue("data_resources"),
		Advanced:      r.PostFormValue("advanced"),
	}
	if f.Mode != "advanced" {
		f.Mode = "basic"
	}
	if f.ReadWrite != "ReadOnly" && f.ReadWrite != "WriteOnly" {
		f.ReadWrite = "All"
	}
	return f
}

// selectors turns the form's selectors into a PutEventSelectors input;
// isDefault says they are AWS's default (all management events).
func (f *trailForm) selectors(trail string) (in *cloudtrail.PutEventSelectorsInput, isDefault bool, p *problem) {
	in = &cloudtrail.PutEventSelectorsInput{TrailName: aws.String(trail)}
	if f.Mode == "advanced" {
		var sels []advancedSelector
		if err := json.Unmarshal([]byte(f.Advanced), &sels); err != nil {
			return nil, false, &problem{"InvalidEventSelectorsException", "The advanced event selectors are not valid JSON: " + err.Error() +
				`. They are a list like [{"Name": "...", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}].`}
		}
		for _, s := range sels {
			in.AdvancedEventSelectors = append(in.AdvancedEventSelectors, s.sdk())
		}
		return in, false, nil
	}
	sel := types.EventSelector{IncludeManagementEvents: aws.Bool(f.Management), ReadWriteType: types.ReadWriteType(f.ReadWrite)}
	if f.ExcludeKMS {
		sel.ExcludeManagementEventSources = []string{"kms.amazonaws.com"}
	}
	byType := map[string]int{}
	for n, line := range strings.Split(f.DataResources, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, value, ok := strings.Cut(line, " ")
		value = strings.TrimSpace(value)
		if !ok || value == "" {
			return nil, false, &problem{"InvalidEventSelectorsException",
				fmt.Sprintf("Data event line %d is not a resource type and a value separated by a space (for example AWS::S3::Object arn:aws:s3:::amzn-s3-demo-bucket/).", n+1)}
		}
		i, seen := byType[typ]
		if !seen {
			i = len(sel.DataResources)
			byType[typ] = i
			sel.DataResources = append(sel.DataResources, types.DataResource{Type: aws.String(typ)})
		}
		sel.DataResources[i].Values = append(sel.DataResources[i].Values, value)
	}
	in.EventSelectors = []types.EventSelector{sel}
	return in, f.Management && f.ReadWrite == "All" && len(sel.DataResources) == 0 && !f.ExcludeKMS, nil
}

func (c *Console) renderTrailForm(w http.ResponseWriter, r *http.Request, status int, f *trailForm, p *problem) {
	title := "Create trail"
	if f.Edit {
		title = "Edit trail " + f.Name
	}
	c.render(w, r, status, "trail_form.html", &view{Title: title, Area: Prefix + "trails", Error: p, Data: f.fill()})
}

func (c *Console) handleTrailNew(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderTrailForm(w, r, http.StatusOK, newTrailForm(), nil)
}

// trailBucketPolicy is the policy AWS's console gives a bucket it creates
// for a trail: CloudTrail may read its ACL and write the account's logs.
func trailBucketPolicy(bucket, prefix, account string) string {
	path := "AWSLogs/" + account + "/*"
	if prefix != "" {
		path = prefix + "/" + path
	}
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{"Sid": "AWSCloudTrailAclCheck20150319", "Effect": "Allow",
				"Principal": map[string]string{"Service": "cloudtrail.amazonaws.com"},
				"Action":    "s3:GetBucketAcl", "Resource": "arn:aws:s3:::" + bucket},
			map[string]any{"Sid": "AWSCloudTrailWrite20150319", "Effect": "Allow",
				"Principal": map[string]string{"Service": "cloudtrail.amazonaws.com"},
				"Action":    "s3:PutObject", "Resource": "arn:aws:s3:::" + bucket + "/" + path,
				"Condition": map[string]any{"StringEquals": map[string]string{"s3:x-amz-acl": "bucket-owner-full-control"}}},
		},
	})
	return string(b)
}

func (c *Console) handleTrailCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := readTrailForm(r)
	ctx := c.forBrowser(r)
	cl := c.clients(s)
	sel, isDefault, p := f.selectors(f.Name)
	if p != nil {
		c.renderTrailForm(w, r, http.StatusBadRequest, f, p)
		return
	}
	createdBucket := false
	if f.NewBucket && f.Bucket != "" {
		if _, err := cl.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.Bucket)}); err != nil {
			c.renderTrailForm(w, r, http.StatusBadRequest, f, c.problemOf(r, err))
			return
		}
		_, err := cl.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(f.Bucket),
			Policy: aws.String(trailBucketPolicy(f.Bucket, f.Prefix, s.principal.AccountID))})
		if err != nil {
			c.renderTrailForm(w, r, http.StatusBadRequest, f, c.problemOf(r, err))
			return
		}
		f.NewBucket, createdBucket = false, true // it exists now: a second try uses it
	}
	in := &cloudtrail.CreateTrailInput{Name: aws.String(f.Name), S3BucketName: aws.String(f.Bucket),
		IsMultiRegionTrail: aws.Bool(f.MultiRegion), EnableLogFileValidation: aws.Bool(f.Validation)}
	if f.Prefix != "" {
		in.S3KeyPrefix = aws.String(f.Prefix)
	}
	if f.KMS != "" {
		in.KmsKeyId = aws.String(f.KMS)
	}
	if f.SNS != "" {
		in.SnsTopicName = aws.String(f.SNS)
	}
	out, err := cl.ct.CreateTrail(ctx, in)
	if err != nil {
		p := c.problemOf(r, err)
		if createdBucket {
			p.Message += " (Bucket " + f.Bucket + " was created; the form now uses it.)"
		}
		c.renderTrailForm(w, r, http.StatusBadRequest, f, p)
		return
	}
	arn := aws.ToString(out.TrailARN)
	if !isDefault {
		sel.TrailName = aws.String(arn)
		if _, err := cl.ct.PutEventSelectors(ctx, sel); err != nil {
			// The trail exists: fix the selectors on its edit form.
			f.Edit, f.ARN = true, arn
			c.renderTrailForm(w, r, http.StatusBadRequest, f, c.problemOf(r, err))
			return
		}
	}
	msg := "Trail " + f.Name + " created."
	if f.StartLogging {
		if _, err := cl.ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(arn)}); err != nil {
			msg += " Logging did not start: " + c.problemOf(r, err).Message
		} else {
			msg += " Logging started."
		}
	}
	s.setFlash(msg)
	http.Redirect(w, r, trailHref(arn), http.StatusSeeOther)
}

func (c *Console) handleTrailEdit(w http.ResponseWriter, r *http.Request, s *session) {
	arn := r.URL.Query().Get("arn")
	t, err := c.describe(r, s, arn)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	f := newTrailForm()
	f.Edit, f.ARN, f.Name = true, arn, aws.ToString(t.Name)
	f.Bucket, f.NewBucket, f.Prefix = aws.ToString(t.S3BucketName), false, aws.ToString(t.S3KeyPrefix)
	f.KMS, f.SNS = aws.ToString(t.KmsKeyId), aws.ToString(t.SnsTopicARN)
	f.MultiRegion, f.Validation = aws.ToBool(t.IsMultiRegionTrail), aws.ToBool(t.LogFileValidationEnabled)
	sel, err := c.clients(s).ct.GetEventSelectors(c.forBrowser(r), &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(arn)})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if len(sel.AdvancedEventSelectors) > 0 {
		f.Mode, f.Advanced = "advanced", indentJSON(advancedToJSON(sel.AdvancedEventSelectors))
	} else if len(sel.EventSelectors) > 0 {
		es := sel.EventSelectors[0]
		f.Management, f.ReadWrite = aws.ToBool(es.IncludeManagementEvents), string(es.ReadWriteType)
		if f.ReadWrite == "" {
			f.ReadWrite = "All"
		}
		f.ExcludeKMS = len(es.ExcludeManagementEventSources) > 0
		var lines []string
		for _, dr := range es.DataResources {
			for _, v := range dr.Values {
				lines = append(lines, aws.ToString(dr.Type)+" "+v)
			}
		}
		f.DataResources = strings.Join(lines, "\n")
	}
	c.renderTrailForm(w, r, http.StatusOK, f, nil)
}

func (c *Console) handleTrailUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	f := readTrailForm(r)
	f.Edit = true
	ctx := c.forBrowser(r)
	cl := c.clients(s)
	sel, _, p := f.selectors(f.ARN)
	if p != nil {
		c.renderTrailForm(w, r, http.StatusBadRequest, f, p)
		return
	}
	in := &cloudtrail.UpdateTrailInput{Name: aws.String(f.ARN), S3BucketName: aws.String(f.Bucket),
		S3KeyPrefix: aws.String(f.Prefix), IsMultiRegionTrail: aws.Bool(f.MultiRegion),
		EnableLogFileValidation: aws.Bool(f.Validation), SnsTopicName: aws.String(f.SNS), KmsKeyId: aws.String(f.KMS)}
	if _, err := cl.ct.UpdateTrail(ctx, in); err != nil {
		c.renderTrailForm(w, r, http.StatusBadRequest, f, c.problemOf(r, err))
		return
	}
	if _, err := cl.ct.PutEventSelectors(ctx, sel); err != nil {
		c.renderTrailForm(w, r, http.StatusBadRequest, f, c.problemOf(r, err))
		return
	}
	s.setFlash("Trail " + f.Name + " updated.")
	http.Redirect(w, r, trailHref(f.ARN), http.StatusSeeOther)
}

func (c *Console) handleTrailLogging(w http.ResponseWriter, r *http.Request, s *session) {
	arn := r.PostFormValue("arn")
	ctx := c.forBrowser(r)
	var err error
	msg := "Logging started."
	if r.PostFormValue("logging") == "start" {
		_, err = c.clients(s).ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(arn)})
	} else {
		msg = "Logging stopped."
		_, err = c.clients(s).ct.StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: aws.String(arn)})
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	s.setFlash(msg)
	http.Redirect(w, r, trailHref(arn), http.StatusSeeOther)
}

func (c *Console) handleTrailDeleteForm(w http.ResponseWriter, r *http.Request, s *session) {
	arn := r.URL.Query().Get("arn")
	t, err := c.describe(r, s, arn)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "trail_delete.html", &view{Title: "Delete trail", Area: Prefix + "trails",
		Data: trailRow{Name: aws.ToString(t.Name), ARN: arn, Href: trailHref(arn)}})
}

func (c *Console) handleTrailDelete(w http.ResponseWriter, r *http.Request, s *session) {
	arn := r.PostFormValue("arn")
	if _, err := c.clients(s).ct.DeleteTrail(c.forBrowser(r), &cloudtrail.DeleteTrailInput{Name: aws.String(arn)}); err != nil {
		c.fail(w, r, err)
		return
	}
	s.setFlash("Trail " + arn + " deleted. Its log files stay in the bucket.")
	http.Redirect(w, r, Prefix+"trails", http.StatusSeeOther)
}

// advancedSelector is an advanced event selector in the JSON the CLI
// reads and writes.
type advancedSelector struct {
	Name           *string         `json:"Name,omitempty"`
	FieldSelectors []fieldSelector `json:"FieldSelectors"`
}

type fieldSelector struct {
	Field         string   `json:"Field"`
	Equals        []string `json:"Equals,omitempty"`
	StartsWith    []string `json:"StartsWith,omitempty"`
	EndsWith      []string `json:"EndsWith,omitempty"`
	NotEquals     []string `json:"NotEquals,omitempty"`
	NotStartsWith []string `json:"NotStartsWith,omitempty"`
	NotEndsWith   []string `json:"NotEndsWith,omitempty"`
}

func (a advancedSelector) sdk() types.AdvancedEventSelector {
	out := types.AdvancedEventSelector{Name: a.Name}
	for _, f := range a.FieldSelectors {
		out.FieldSelectors = append(out.FieldSelectors, types.AdvancedFieldSelector{Field: aws.String(f.Field),
			Equals: f.Equals, StartsWith: f.StartsWith, EndsWith: f.EndsWith,
			NotEquals: f.NotEquals, NotStartsWith: f.NotStartsWith, NotEndsWith: f.NotEndsWith})
	}
	return out
}

func advancedToJSON(in []types.AdvancedEventSelector) any {
	out := []advancedSelector{}
	for _, a := range in {
		s := advancedSelector{Name: a.Name}
		for _, f := range a.FieldSelectors {
			s.FieldSelectors = append(s.FieldSelectors, fieldSelector{Field: aws.ToString(f.Field), Equals: f.Equals,
				StartsWith: f.StartsWith, EndsWith: f.EndsWith, NotEquals: f.NotEquals, NotStartsWith: f.NotStartsWith, NotEndsWith: f.NotEndsWith})
		}
		out = append(out, s)
	}
	return out
}

func basicToJSON(in []types.EventSelector) any {
	type dataResource struct {
		Type   string   `json:"Type"`
		Values []string `json:"Values"`
	}
	type selector struct {
		ReadWriteType                 string         `json:"ReadWriteType"`
		IncludeManagementEvents       bool           `json:"IncludeManagementEvents"`
		DataResources                 []dataResource `json:"DataResources"`
		ExcludeManagementEventSources []string       `json:"ExcludeManagementEventSources"`
	}
	out := []selector{}
	for _, e := range in {
		s := selector{ReadWriteType: string(e.ReadWriteType), IncludeManagementEvents: aws.ToBool(e.IncludeManagementEvents),
			DataResources: []dataResource{}, ExcludeManagementEventSources: e.ExcludeManagementEventSources}
		if s.ExcludeManagementEventSources == nil {
			s.ExcludeManagementEventSources = []string{}
		}
		for _, d := range e.DataResources {
			s.DataResources = append(s.DataResources, dataResource{aws.ToString(d.Type), d.Values})
		}
		out = append(out, s)
	}
	return out
}

func indentJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
