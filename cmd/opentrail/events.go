package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api"
)

const eventsSynopsis = `Usage: opentrail events lookup|download [flags]

Reads the event history of a running opentrail server through its API, with
the credentials of the AWS SDK's usual chain (environment, profile), or else
those in DATA_DIR/credentials.

  lookup    prints matching events, newest first, paging for you (no
            2-requests-per-second limit unless the server sets one).
  download  streams matching events as CSV (the console's columns plus the
            full record) or as a JSON array of records.

Filters: --attr Key=Value (EventId, EventName, ReadOnly, Username,
ResourceType, ResourceName, EventSource, AccessKeyId) may be repeated: all
must match (AWS allows one per call; combining them is an opentrail
extension). --start-time and --end-time take RFC 3339 times (2026-01-02T15:04:05Z)
or durations back from now (24h). --category insight selects Insights events.`

type eventsFlags struct {
	endpoint, region, profile, dataDir string
	attrs                              multiFlag
	start, end, category               string
	maxItems                           int
	output                             string
	format, outFile                    string
	quiet                              bool
}

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "lookup" && args[0] != "download") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(stdout, eventsSynopsis)
			return nil
		}
		fmt.Fprintln(stderr, eventsSynopsis)
		return exitError{code: 2}
	}
	sub := args[0]
	var f eventsFlags
	fs := newFlagSet("events "+sub, eventsSynopsis, stderr)
	fs.String(&f.endpoint, "endpoint-url", "OPENTRAIL_ENDPOINT_URL", "http://"+DefaultListen, "opentrail server URL")
	fs.String(&f.region, "region", "AWS_REGION", "us-east-1", "region whose history to read")
	fs.String(&f.profile, "profile", "AWS_PROFILE", "", "AWS CLI profile with opentrail credentials")
	fs.String(&f.dataDir, "data-dir", "OPENTRAIL_DATA_DIR", "./opentrail-data", "data directory whose credentials file is used when no other credentials are set")
	fs.Var(&f.attrs, "attr", "lookup attribute Key=Value (repeatable; all must match)")
	fs.String(&f.start, "start-time", "", "", "earliest event time: RFC 3339, or a duration back from now like 24h (default: the retention period)")
	fs.String(&f.end, "end-time", "", "", "latest event time: RFC 3339, or a duration back from now (default: now)")
	fs.String(&f.category, "category", "", "", "insight: Insights events instead of management events")
	if sub == "lookup" {
		fs.IntVar(&f.maxItems, "max-items", 0, "stop after this many events (0: all)")
		fs.String(&f.output, "output", "", "table", "table or json (LookupEvents' Events list)")
	} else {
		fs.String(&f.format, "format", "", "csv", "csv or json")
		fs.String(&f.outFile, "output-file", "", "", "file to write (default: standard output)")
		fs.Bool(&f.quiet, "quiet", "", false, "no progress line")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	start, err := parseWhen(f.start)
	if err != nil {
		return fmt.Errorf("--start-time: %w", err)
	}
	end, err := parseWhen(f.end)
	if err != nil {
		return fmt.Errorf("--end-time: %w", err)
	}
	var attrs []types.LookupAttribute
	var query = url.Values{}
	for _, a := range f.attrs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("--attr %q: use Key=Value, for example EventName=CreateTrail", a)
		}
		attrs = append(attrs, types.LookupAttribute{AttributeKey: types.LookupAttributeKey(k), AttributeValue: aws.String(v)})
		query.Add("attr", a)
	}
	if f.category != "" && f.category != "insight" {
		return fmt.Errorf("--category must be insight or empty")
	}
	cfg, err := loadAWSConfig(ctx, f)
	if err != nil {
		return err
	}
	if sub == "download" {
		if f.format != "csv" && f.format != "json" {
			return fmt.Errorf("--format must be csv or json")
		}
		query.Set("format", f.format)
		if !start.IsZero() {
			query.Set("start", start.UTC().Format(time.RFC3339))
		}
		if !end.IsZero() {
			query.Set("end", end.UTC().Format(time.RFC3339))
		}
		if f.category != "" {
			query.Set("category", f.category)
		}
		return download(ctx, cfg, f, query, stdout, stderr)
	}
	in := &cloudtrail.LookupEventsInput{LookupAttributes: attrs}
	if !start.IsZero() {
		in.StartTime = aws.Time(start)
	}
	if !end.IsZero() {
		in.EndTime = aws.Time(end)
	}
	if f.category != "" {
		in.EventCategory = types.EventCategoryInsight
	}
	client := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.BaseEndpoint = aws.String(f.endpoint) })
	var events []types.Event
	pager := cloudtrail.NewLookupEventsPaginator(client, in)
	for pager.HasMorePages() && (f.maxItems == 0 || len(events) < f.maxItems) {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return err
		}
		events = append(events, page.Events...)
	}
	if f.maxItems > 0 && len(events) > f.maxItems {
		events = events[:f.maxItems]
	}
	switch f.output {
	case "json":
		return printEventsJSON(stdout, events)
	case "table":
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EVENT TIME\tEVENT NAME\tUSER NAME\tEVENT SOURCE\tRESOURCES\tEVENT ID")
		for _, e := range events {
			var res []string
			for _, r := range e.Resources {
				res = append(res, aws.ToString(r.ResourceType)+" "+aws.ToString(r.ResourceName))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", aws.ToTime(e.EventTime).UTC().Format(time.RFC3339),
				aws.ToString(e.EventName), aws.ToString(e.Username), aws.ToString(e.EventSource),
				strings.Join(res, ", "), aws.ToString(e.EventId))
		}
		return tw.Flush()
	}
	return fmt.Errorf("--output must be table or json")
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration (24h)", v)
}

func loadAWSConfig(ctx context.Context, f eventsFlags) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(f.region)}
	if f.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(f.profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err == nil {
		if _, cerr := cfg.Credentials.Retrieve(ctx); cerr == nil {
			return cfg, nil
		}
	}
	// Fall back to the data directory's root credentials.
	path := filepath.Join(f.dataDir, "credentials")
	if _, serr := os.Stat(path); serr != nil {
		if err == nil {
			err = errors.New("no AWS credentials found")
		}
		return aws.Config{}, fmt.Errorf("%v; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or point --data-dir at a data directory with a credentials file", err)
	}
	return config.LoadDefaultConfig(ctx, config.WithRegion(f.region),
		config.WithSharedCredentialsFiles([]string{path}), config.WithSharedConfigProfile(credentialsProfile))
}

// printEventsJSON prints events as the AWS CLI prints LookupEvents' output.
func printEventsJSON(w io.Writer, events []types.Event) error {
	type resource struct {
		ResourceType string `json:"ResourceType,omitempty"`
		ResourceName string `json:"ResourceName,omitempty"`
	}
	type event struct {
		EventId         string     `json:"EventId,omitempty"`
		EventName       string     `json:"EventName,omitempty"`
		ReadOnly        string     `json:"ReadOnly,omitempty"`
		AccessKeyId     string     `json:"AccessKeyId,omitempty"`
		EventTime       string     `json:"EventTime,omitempty"`
		EventSource     string     `json:"EventSource,omitempty"`
		Username        string     `json:"Username,omitempty"`
		Resources       []resource `json:"Resources"`
		CloudTrailEvent string     `json:"CloudTrailEvent,omitempty"`
	}
	out := struct {
		Events []event `json:"Events"`
	}{Events: []event{}}
	for _, e := range events {
		ev := event{EventId: aws.ToString(e.EventId), EventName: aws.ToString(e.EventName), ReadOnly: aws.ToString(e.ReadOnly),
			AccessKeyId: aws.ToString(e.AccessKeyId), EventSource: aws.ToString(e.EventSource), Username: aws.ToString(e.Username),
			CloudTrailEvent: aws.ToString(e.CloudTrailEvent), Resources: []resource{}}
		if e.EventTime != nil {
			ev.EventTime = e.EventTime.UTC().Format(time.RFC3339)
		}
		for _, r := range e.Resources {
			ev.Resources = append(ev.Resources, resource{aws.ToString(r.ResourceType), aws.ToString(r.ResourceName)})
		}
		out.Events = append(out.Events, ev)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	return enc.Encode(out)
}

// download streams a signed download from the server to a file or stdout.
func download(ctx context.Context, cfg aws.Config, f eventsFlags, query url.Values, stdout, stderr io.Writer) error {
	u := strings.TrimRight(f.endpoint, "/") + api.DownloadPath + "?" + query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptySHA256, "cloudtrail", f.region, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("download from %s: %w", f.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) == nil && e.Type != "" {
			return opentrail.Errorf(e.Type, "%s", e.Message)
		}
		return fmt.Errorf("download: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var out io.Writer = stdout
	if f.outFile != "" {
		file, err := os.Create(f.outFile)
		if err != nil {
			return err
		}
		defer file.Close()
		out = file
	}
	prog := newProgress(stderr, f.quiet || f.outFile == "")
	var n int64
	buf := make([]byte, 256<<10)
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			if _, err := out.Write(buf[:k]); err != nil {
				return err
			}
			n += int64(k)
			prog.update("download: %s", mib(n))
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("download interrupted after %s: %w", mib(n), rerr)
		}
	}
	prog.done()
	if f.outFile != "" {
		fmt.Fprintf(stderr, "wrote %s (%s)\n", f.outFile, mib(n))
	}
	return nil
}
