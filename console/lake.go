package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

// Lake: event data stores (list, create, edit, ingestion, delete and
// restore) here; the query editor, query pages and history in
// lake_queries.go; saved results in lake_saved.go.

func (c *Console) lakeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"lake", c.signedIn(c.handleStores))
	mux.HandleFunc("GET "+Prefix+"lake/new", c.signedIn(c.handleStoreNew))
	mux.HandleFunc("POST "+Prefix+"lake/new", c.post(c.handleStoreCreate))
	mux.HandleFunc("GET "+Prefix+"lake/stores/{id}", c.signedIn(c.handleStore))
	mux.HandleFunc("GET "+Prefix+"lake/stores/{id}/edit", c.signedIn(c.handleStoreEdit))
	mux.HandleFunc("POST "+Prefix+"lake/stores/{id}/edit", c.post(c.handleStoreUpdate))
	mux.HandleFunc("POST "+Prefix+"lake/stores/{id}/ingestion", c.post(c.handleStoreIngestion))
	mux.HandleFunc("GET "+Prefix+"lake/stores/{id}/delete", c.signedIn(c.handleStoreDeleteForm))
	mux.HandleFunc("POST "+Prefix+"lake/stores/{id}/delete", c.post(c.handleStoreDelete))
	mux.HandleFunc("POST "+Prefix+"lake/stores/{id}/restore", c.post(c.handleStoreRestore))
	mux.HandleFunc("GET "+Prefix+"lake/stores/{id}/queries", c.signedIn(c.handleQueryHistory))
	mux.HandleFunc("GET "+Prefix+"lake/editor", c.signedIn(c.handleEditor))
	mux.HandleFunc("POST "+Prefix+"lake/run", c.post(c.handleRun))
	mux.HandleFunc("GET "+Prefix+"lake/queries/{id}", c.signedIn(c.handleQuery))
	mux.HandleFunc("GET "+Prefix+"lake/queries/{id}/status", c.signedIn(c.handleQueryStatus))
	mux.HandleFunc("POST "+Prefix+"lake/queries/{id}/cancel", c.post(c.handleQueryCancel))
	mux.HandleFunc("GET "+Prefix+"lake/queries/{id}/results.csv", c.signedIn(c.handleResultsCSV))
	mux.HandleFunc("GET "+Prefix+"lake/queries/{id}/saved.csv", c.signedIn(c.handleSavedResults))
}

const lakeArea = Prefix + "lake"

// storeID is the ID of an event data store: its ARN's last segment, which
// is also its table name in queries.
func storeID(arn string) string {
	return arn[strings.LastIndexByte(arn, '/')+1:]
}

func storeHref(id string) string { return Prefix + "lake/stores/" + url.PathEscape(id) }

// storeRow is an event data store as the list and detail pages show it.
type storeRow struct {
	ID, ARN, Name, Href    string
	Status, BillingMode    string
	Retention              int32
	Protected, MultiRegion bool
	Organization           bool
	Created, Updated       time.Time
	Selectors              string // the advanced event selectors as JSON
	Pending, Stopped       bool
	Channel                bool // takes events from channels: ingestion cannot be stopped
}

func newStoreRow(arn, name string, status types.EventDataStoreStatus, billing types.BillingMode, retention *int32,
	protected, multi, org *bool, created, updated *time.Time, sels []types.AdvancedEventSelector) storeRow {
	row := storeRow{ARN: arn, ID: storeID(arn), Name: name, Status: string(status), BillingMode: string(billing),
		Retention: aws.ToInt32(retention), Protected: aws.ToBool(protected), MultiRegion: aws.ToBool(multi),
		Organization: aws.ToBool(org), Created: aws.ToTime(created), Updated: aws.ToTime(updated)}
	row.Href = storeHref(row.ID)
	row.Pending = status == types.EventDataStoreStatusPendingDeletion
	row.Stopped = status == types.EventDataStoreStatusStoppedIngestion || status == types.EventDataStoreStatusStoppingIngestion
	row.Selectors = indentJSON(advancedToJSON(sels))
	for _, s := range sels {
		for _, f := range s.FieldSelectors {
			if aws.ToString(f.Field) == "eventCategory" && len(f.Equals) > 0 && f.Equals[0] == "ActivityAuditLog" {
				row.Channel = true
			}
		}
	}
	return row
}

// listStores lists every event data store of the region.
func (c *Console) listStores(r *http.Request, s *session) ([]storeRow, error) {
	var rows []storeRow
	in := &cloudtrail.ListEventDataStoresInput{}
	for {
		out, err := c.clients(s).ct.ListEventDataStores(c.forBrowser(r), in)
		if err != nil {
			return nil, err
		}
		for _, e := range out.EventDataStores {
			rows = append(rows, newStoreRow(aws.ToString(e.EventDataStoreArn), aws.ToString(e.Name), e.Status, "", e.RetentionPeriod,
				e.TerminationProtectionEnabled, e.MultiRegionEnabled, e.OrganizationEnabled, e.CreatedTimestamp, e.UpdatedTimestamp,
				e.AdvancedEventSelectors))
		}
		if out.NextToken == nil || len(out.EventDataStores) == 0 {
			return rows, nil
		}
		in.NextToken = out.NextToken
	}
}

func (c *Console) handleStores(w http.ResponseWriter, r *http.Request, s *session) {
	rows, err := c.listStores(r, s)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "lake.html", &view{Title: "Lake", Area: lakeArea, Data: rows})
}

func (c *Console) getStore(r *http.Request, s *session, id string) (*storeRow, error) {
	out, err := c.clients(s).ct.GetEventDataStore(c.forBrowser(r), &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(id)})
	if err != nil {
		return nil, err
	}
	row := newStoreRow(aws.ToString(out.EventDataStoreArn), aws.ToString(out.Name), out.Status, out.BillingMode, out.RetentionPeriod,
		out.TerminationProtectionEnabled, out.MultiRegionEnabled, out.OrganizationEnabled, out.CreatedTimestamp, out.UpdatedTimestamp,
		out.AdvancedEventSelectors)
	return &row, nil
}

func (c *Console) handleStore(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderStore(w, r, s, r.PathValue("id"), http.StatusOK, nil)
}

// renderStore shows a store's page, with a problem from an action on it.
func (c *Console) renderStore(w http.ResponseWriter, r *http.Request, s *session, id string, status int, p *problem) {
	st, err := c.getStore(r, s, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "lake_store.html", &view{Title: st.Name, Area: lakeArea, Error: p, Data: st})
}

// selectorPreset is a ready-made set of advanced event selectors the
// store form offers.
type selectorPreset struct {
	Key, Label, JSON string
}

var selectorPresets = []selectorPreset{
	{"management", "All management events", `[
  {
    "Name": "Management events",
    "FieldSelectors": [
      {"Field": "eventCategory", "Equals": ["Management"]}
    ]
  }
]`},
	{"management-write", "Management write events only", `[
  {
    "Name": "Management write events",
    "FieldSelectors": [
      {"Field": "eventCategory", "Equals": ["Management"]},
      {"Field": "readOnly", "Equals": ["false"]}
    ]
  }
]`},
	{"s3-data", "S3 data events", `[
  {
    "Name": "S3 data events",
    "FieldSelectors": [
      {"Field": "eventCategory", "Equals": ["Data"]},
      {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}
    ]
  }
]`},
	{"management-s3", "All management events and S3 data events", `[
  {
    "Name": "Management events",
    "FieldSelectors": [
      {"Field": "eventCategory", "Equals": ["Management"]}
    ]
  },
  {
    "Name": "S3 data events",
    "FieldSelectors": [
      {"Field": "eventCategory", "Equals": ["Data"]},
      {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}
    ]
  }
]`},
	{"activity", "Events from integrations (channels)", `[
  {
    "Name": "Integration events",
    "FieldSelectors": [
      {"Field": "eventCategory", "Equals": ["ActivityAuditLog"]}
    ]
  }
]`},
}

// storeForm is the create and edit form, as typed.
type storeForm struct {
	Edit           bool
	ID             string
	Name           string
	Retention      string
	Billing        string
	Protected      bool
	MultiRegion    bool
	StartIngestion bool
	Preset         string // a selectorPresets key, or "custom"
	Selectors      string // JSON

	Presets      []selectorPreset
	BillingModes []option
}

func newStoreForm() *storeForm {
	return &storeForm{Retention: "366", Billing: string(types.BillingModeExtendableRetentionPricing), Protected: true,
		MultiRegion: true, StartIngestion: true, Preset: "management", Selectors: selectorPresets[0].JSON}
}

func (f *storeForm) fill() *storeForm {
	f.Presets = selectorPresets
	f.BillingModes = []option{
		{string(types.BillingModeExtendableRetentionPricing), "Extendable retention (7 to 3653 days)"},
		{string(types.BillingModeFixedRetentionPricing), "Fixed retention (7 to 2557 days)"},
	}
	return f
}

func readStoreForm(r *http.Request) *storeForm {
	on := func(k string) bool { return r.PostFormValue(k) != "" }
	f := &storeForm{
		Name:           strings.TrimSpace(r.PostFormValue("name")),
		Retention:      strings.TrimSpace(r.PostFormValue("retention")),
		Billing:        r.PostFormValue("billing"),
		Protected:      on("protected"),
		MultiRegion:    on("multi_region"),
		StartIngestion: on("start_ingestion"),
		Preset:         r.PostFormValue("preset"),
		Selectors:      r.PostFormValue("selectors"),
	}
	if f.Billing != string(types.BillingModeFixedRetentionPricing) {
		f.Billing = string(types.BillingModeExtendableRetentionPricing)
	}
	f.Preset = "custom"
	for _, p := range selectorPresets {
		if p.Key == r.PostFormValue("preset") {
			f.Preset, f.Selectors = p.Key, p.JSON
		}
	}
	return f
}

// settings are the form's values in the API's types.
func (f *storeForm) settings() (retention *int32, sels []types.AdvancedEventSelector, p *problem) {
	if f.Retention != "" {
		n, err := strconv.ParseInt(f.Retention, 10, 32)
		if err != nil {
			return nil, nil, &problem{"InvalidParameterException", "The retention period is a whole number of days (7 to 3653)."}
		}
		retention = aws.Int32(int32(n))
	}
	if strings.TrimSpace(f.Selectors) == "" {
		return retention, nil, nil
	}
	var parsed []advancedSelector
	if err := json.Unmarshal([]byte(f.Selectors), &parsed); err != nil {
		return nil, nil, &problem{"InvalidEventSelectorsException", "The advanced event selectors are not valid JSON: " + err.Error() +
			`. They are a list like [{"Name": "...", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}].`}
	}
	for _, s := range parsed {
		sels = append(sels, s.sdk())
	}
	return retention, sels, nil
}

func (c *Console) renderStoreForm(w http.ResponseWriter, r *http.Request, status int, f *storeForm, p *problem) {
	title := "Create event data store"
	if f.Edit {
		title = "Edit event data store " + f.Name
	}
	c.render(w, r, status, "lake_form.html", &view{Title: title, Area: lakeArea, Error: p, Data: f.fill()})
}

func (c *Console) handleStoreNew(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderStoreForm(w, r, http.StatusOK, newStoreForm(), nil)
}

func (c *Console) handleStoreCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := readStoreForm(r)
	retention, sels, p := f.settings()
	if p != nil {
		c.renderStoreForm(w, r, http.StatusBadRequest, f, p)
		return
	}
	out, err := c.clients(s).ct.CreateEventDataStore(c.forBrowser(r), &cloudtrail.CreateEventDataStoreInput{
		Name: aws.String(f.Name), RetentionPeriod: retention, BillingMode: types.BillingMode(f.Billing),
		TerminationProtectionEnabled: aws.Bool(f.Protected), MultiRegionEnabled: aws.Bool(f.MultiRegion),
		StartIngestion: aws.Bool(f.StartIngestion), AdvancedEventSelectors: sels,
	})
	if err != nil {
		c.renderStoreForm(w, r, http.StatusBadRequest, f, c.problemOf(r, err))
		return
	}
	s.setFlash("Event data store " + f.Name + " created.")
	http.Redirect(w, r, storeHref(storeID(aws.ToString(out.EventDataStoreArn))), http.StatusSeeOther)
}

func (c *Console) handleStoreEdit(w http.ResponseWriter, r *http.Request, s *session) {
	st, err := c.getStore(r, s, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	f := &storeForm{Edit: true, ID: st.ID, Name: st.Name, Retention: strconv.Itoa(int(st.Retention)), Billing: st.BillingMode,
		Protected: st.Protected, MultiRegion: st.MultiRegion, Preset: "custom", Selectors: st.Selectors}
	c.renderStoreForm(w, r, http.StatusOK, f, nil)
}

func (c *Console) handleStoreUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	f := readStoreForm(r)
	f.Edit, f.ID = true, r.PathValue("id")
	retention, sels, p := f.settings()
	if p != nil {
		c.renderStoreForm(w, r, http.StatusBadRequest, f, p)
		return
	}
	in := &cloudtrail.UpdateEventDataStoreInput{EventDataStore: aws.String(f.ID), Name: aws.String(f.Name),
		RetentionPeriod: retention, BillingMode: types.BillingMode(f.Billing),
		TerminationProtectionEnabled: aws.Bool(f.Protected), MultiRegionEnabled: aws.Bool(f.MultiRegion),
		AdvancedEventSelectors: sels}
	if _, err := c.clients(s).ct.UpdateEventDataStore(c.forBrowser(r), in); err != nil {
		c.renderStoreForm(w, r, http.StatusBadRequest, f, c.problemOf(r, err))
		return
	}
	s.setFlash("Event data store " + f.Name + " updated.")
	http.Redirect(w, r, storeHref(f.ID), http.StatusSeeOther)
}

func (c *Console) handleStoreIngestion(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx := c.forBrowser(r)
	var err error
	msg := "Ingestion started."
	if r.PostFormValue("ingestion") == "start" {
		_, err = c.clients(s).ct.StartEventDataStoreIngestion(ctx, &cloudtrail.StartEventDataStoreIngestionInput{EventDataStore: aws.String(id)})
	} else {
		msg = "Ingestion stopped: new events are not added to this store until ingestion starts again."
		_, err = c.clients(s).ct.StopEventDataStoreIngestion(ctx, &cloudtrail.StopEventDataStoreIngestionInput{EventDataStore: aws.String(id)})
	}
	if err != nil {
		c.renderStore(w, r, s, id, http.StatusBadRequest, c.problemOf(r, err))
		return
	}
	s.setFlash(msg)
	http.Redirect(w, r, storeHref(id), http.StatusSeeOther)
}

func (c *Console) handleStoreDeleteForm(w http.ResponseWriter, r *http.Request, s *session) {
	st, err := c.getStore(r, s, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "lake_delete.html", &view{Title: "Delete event data store", Area: lakeArea, Data: st})
}

func (c *Console) handleStoreDelete(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.clients(s).ct.DeleteEventDataStore(c.forBrowser(r), &cloudtrail.DeleteEventDataStoreInput{EventDataStore: aws.String(id)}); err != nil {
		c.renderStore(w, r, s, id, http.StatusBadRequest, c.problemOf(r, err))
		return
	}
	s.setFlash("The event data store is pending deletion: it takes no events and cannot be queried. Restore it within 7 days to keep it.")
	http.Redirect(w, r, storeHref(id), http.StatusSeeOther)
}

func (c *Console) handleStoreRestore(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.clients(s).ct.RestoreEventDataStore(c.forBrowser(r), &cloudtrail.RestoreEventDataStoreInput{EventDataStore: aws.String(id)}); err != nil {
		c.renderStore(w, r, s, id, http.StatusBadRequest, c.problemOf(r, err))
		return
	}
	s.setFlash("Event data store restored.")
	http.Redirect(w, r, storeHref(id), http.StatusSeeOther)
}
