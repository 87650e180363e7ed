package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// The Lake pages of the console in headless Chromium: stores, the query
// editor, query pages, downloads and history, each checked against what
// the API says.

// signIn signs the tab in with the server's root key.
func (t *tab) signIn(tb testing.TB, ts *testServer) {
	tb.Helper()
	t.open(tb, ts.URL+"/console/signin")
	t.do(tb, chromedp.SendKeys(chromedp.ID("access_key_id"), ts.KeyID), chromedp.SendKeys(chromedp.ID("secret_access_key"), ts.Secret))
	t.submit(tb, "#signin")
	if loc := browse(tb, t, chromedp.Location()); !strings.HasSuffix(loc, "/console/events") {
		tb.Fatalf("after signing in the browser is at %s", loc)
	}
}

// waitQueryPage waits until the query page shows a query that ended, and
// returns its status.
func (t *tab) waitQueryPage(tb testing.TB) string {
	tb.Helper()
	t.waitFor(tb, "the query to end", `!!document.getElementById("results-count") || !!document.getElementById("results-problem")`, 30*time.Second)
	return t.text(tb, "#query-status")
}

// resultTable reads the query page's results table: its header, then its
// rows.
func (t *tab) resultTable(tb testing.TB) [][]string {
	tb.Helper()
	return browse(tb, t, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#results tr")].map(tr => [...tr.children].map(c => c.textContent))`))
}

// queryID is the ID of the query whose page the tab shows.
func (t *tab) queryID(tb testing.TB) string {
	tb.Helper()
	loc := browse(tb, t, chromedp.Location())
	_, rest, ok := strings.Cut(loc, "/console/lake/queries/")
	if !ok {
		tb.Fatalf("the browser is at %s, not a query page", loc)
	}
	id, _, _ := strings.Cut(rest, "?")
	return id
}

// sdkTable is a GetQueryResults page as a table: the column labels, then
// the values.
func sdkTable(rows [][]map[string]string) [][]string {
	var out [][]string
	for i, r := range rows {
		var head, vals []string
		for _, cell := range r {
			for k, v := range cell {
				head, vals = append(head, k), append(vals, v)
			}
		}
		if i == 0 {
			out = append(out, head)
		}
		out = append(out, vals)
	}
	return out
}

func TestConsoleLake(t *testing.T) {
	chromium(t)
	ts := mustRunMain(t, lakeMemory)
	ctx := context.Background()
	ct, data, s3c := ts.cloudtrail("us-east-1"), ts.cloudtraildata("us-east-1"), ts.s3("us-east-1")

	// A store fed by a channel, with 100 events: a few carry markup.
	appsARN, apps := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("apps"), TerminationProtectionEnabled: aws.Bool(false),
		AdvancedEventSelectors: []types.AdvancedEventSelector{{FieldSelectors: []types.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"ActivityAuditLog"}}}}}})
	ch, err := ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("app"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeEventDataStore, Location: aws.String(appsARN)}}})
	if err != nil {
		t.Fatal(err)
	}
	const hostileName, hostileUser = `<script>alert('cell')</script>`, `<img src=x onerror=alert('who')>`
	putEvents(t, data, aws.ToString(ch.ChannelArn), 0, 100, func(i int) (string, string) {
		if i%40 == 7 {
			return hostileUser, hostileName
		}
		return fmt.Sprint("user", i%3), fmt.Sprint("Op", i%4)
	})
	countStmt := fmt.Sprintf(`SELECT eventData.eventName, count(*) FROM %s GROUP BY 1`, apps)
	waitUntil(t, 15*time.Second, "the channel's events are in the store", func() bool {
		n := 0
		for _, c := range counts(t, ct, countStmt) {
			n += c
		}
		return n == 100
	})
	mustResultsBucket(t, s3c, "lake-results")

	tb := mustTab(t)
	tb.signIn(t, ts)
	var mgmt string // the store created in the browser

	t.Run("create a store", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/lake")
		if names := browse(t, tb, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#stores tr[data-name] td:first-child a")].map(a => a.textContent)`)); !cmp.Equal(names, []string{"apps"}) {
			t.Errorf("stores listed: %q", names)
		}
		tb.submit(t, "#create-store")
		tb.do(t, chromedp.SendKeys(chromedp.ID("name"), "ab"))
		tb.submit(t, "#save-store")
		if got := tb.text(t, "#problem"); !strings.Contains(got, "InvalidParameterException") || !strings.Contains(got, "length greater than or equal to 3") {
			t.Errorf("a too short name: problem %q", got)
		}
		if v := browse(t, tb, chromedp.Value(chromedp.ID("name"))); v != "ab" {
			t.Errorf("the form lost the name typed: %q", v)
		}
		tb.do(t, chromedp.SetValue(chromedp.ID("name"), "console-store"), chromedp.SetValue(chromedp.ID("retention"), "3"))
		tb.submit(t, "#save-store")
		if got := tb.text(t, "#problem"); !strings.Contains(got, "InvalidParameterException") || !strings.Contains(got, "retentionPeriod") {
			t.Errorf("a retention of 3 days: problem %q", got)
		}
		tb.screenshot(t, "lake-store-form-error")
		// The S3 preset fills the selectors; then back to management events.
		tb.do(t, chromedp.SetValue(chromedp.ID("preset"), "s3-data"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("preset").dispatchEvent(new Event("change"))`))
		if sel := browse(t, tb, chromedp.Value(chromedp.ID("selectors"))); !strings.Contains(sel, "AWS::S3::Object") {
			t.Errorf("the S3 preset gives selectors %s", sel)
		}
		tb.do(t, chromedp.SetValue(chromedp.ID("preset"), "management"), chromedp.SetValue(chromedp.ID("retention"), "30"))
		tb.submit(t, "#save-store")
		if got := tb.text(t, ".flash"); !strings.Contains(got, "console-store created") {
			t.Fatalf("after creating: flash %q problem %q", got, tb.text(t, "#problem"))
		}
		mgmt = tb.text(t, "#store-id")
		g, err := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(mgmt)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(g.Name) != "console-store" || aws.ToInt32(g.RetentionPeriod) != 30 || !aws.ToBool(g.TerminationProtectionEnabled) ||
			len(g.AdvancedEventSelectors) != 1 || aws.ToString(g.AdvancedEventSelectors[0].FieldSelectors[0].Field) != "eventCategory" ||
			!cmp.Equal(g.AdvancedEventSelectors[0].FieldSelectors[0].Equals, []string{"Management"}) {
			t.Errorf("the store created: %+v", g)
		}
		tb.screenshot(t, "lake-store")
		tb.open(t, ts.URL+"/console/lake")
		if got := tb.text(t, "#stores tr[data-name='console-store'] .store-status"); got != "ENABLED" {
			t.Errorf("the list shows console-store %q", got)
		}
		tb.screenshot(t, "lake-stores")
	})
	if mgmt == "" {
		t.FailNow()
	}

	// Management events flow into the new store.
	for range 5 {
		if _, err := ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 15*time.Second, "the calls are in the store", func() bool {
		return counts(t, ct, fmt.Sprintf(`SELECT eventName, count(*) FROM %s WHERE eventName = 'ListTrails' GROUP BY 1`, mgmt))["ListTrails"] == 5
	})

	t.Run("pick a sample query and run it", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/lake/editor?store="+mgmt)
		if sql := browse(t, tb, chromedp.Value(chromedp.ID("sql"))); !strings.Contains(sql, "FROM "+mgmt) {
			t.Errorf("the editor starts with %q", sql)
		}
		tb.do(t, chromedp.SetValue(chromedp.ID("sql"), "SELECT count(*) FROM "), chromedp.Evaluate[chromedp.Void](`document.getElementById("sql").setSelectionRange(21, 21)`),
			chromedp.Click(chromedp.ID("insert-store")))
		if sql := browse(t, tb, chromedp.Value(chromedp.ID("sql"))); sql != "SELECT count(*) FROM "+mgmt {
			t.Errorf("after inserting the store ID: %q", sql)
		}
		tb.do(t, chromedp.SendKeys(chromedp.ID("phrase"), "top APIs"))
		tb.submit(t, "#search-samples")
		if p := tb.text(t, "#samples-problem"); p != "" {
			t.Fatalf("sample queries: %s", p)
		}
		tb.screenshot(t, "lake-editor")
		names := browse(t, tb, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#sample-list .sample-name")].map(e => e.textContent)`))
		i := -1
		for j, n := range names {
			if n == "Top APIs by event source" {
				i = j
			}
		}
		if i < 0 {
			t.Fatalf("searching 'top APIs' lists %q", names)
		}
		tb.submit(t, fmt.Sprintf("#sample-list li:nth-child(%d) .use-sample", i+1))
		sql := browse(t, tb, chromedp.Value(chromedp.ID("sql")))
		if !strings.Contains(sql, "FROM "+mgmt) || strings.Contains(sql, "$EDS_ID") {
			t.Fatalf("the sample in the editor: %s", sql)
		}
		tb.submit(t, "#run-query")
		if st := tb.waitQueryPage(t); st != "FINISHED" {
			t.Fatalf("the sample query ended %s: %s", st, tb.text(t, "#query-error"))
		}
		id := tb.queryID(t)
		res, err := ct.GetQueryResults(ctx, &cloudtrail.GetQueryResultsInput{QueryId: aws.String(id), MaxQueryResults: aws.Int32(50)})
		if err != nil {
			t.Fatal(err)
		}
		got := tb.resultTable(t)
		if diff := cmp.Diff(sdkTable(res.QueryResultRows), got); diff != "" {
			t.Errorf("results table differs from GetQueryResults (-want +got):\n%s", diff)
		}
		found := false
		for _, r := range got[1:] {
			found = found || (r[0] == "cloudtrail.amazonaws.com" && r[1] == "ListTrails" && r[2] == "5")
		}
		if !found {
			t.Errorf("the results do not count 5 ListTrails calls: %q", got)
		}
		d, err := ct.DescribeQuery(ctx, &cloudtrail.DescribeQueryInput{QueryId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if got := tb.text(t, "#events-matched"); got != fmt.Sprint(aws.ToInt64(d.QueryStatistics.EventsMatched)) || got == "0" {
			t.Errorf("events matched shows %q, DescribeQuery %d", got, aws.ToInt64(d.QueryStatistics.EventsMatched))
		}
		tb.screenshot(t, "lake-results")
	})

	var pagedQuery string
	t.Run("page through results, hostile cells shown as text", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/lake/editor?store="+apps)
		tb.do(t, chromedp.SetValue(chromedp.ID("sql"), `SELECT eventData.uid AS uid, eventData.eventName AS name, eventData.userIdentity.principalId AS who FROM $EDS_ID ORDER BY uid`))
		tb.submit(t, "#run-query")
		if st := tb.waitQueryPage(t); st != "FINISHED" {
			t.Fatalf("query ended %s: %s", st, tb.text(t, "#query-error"))
		}
		pagedQuery = tb.queryID(t)
		if got := tb.text(t, "#query-sql"); !strings.Contains(got, "FROM "+apps+" ORDER BY uid") {
			t.Errorf("the statement run: %s", got)
		}
		in := &cloudtrail.GetQueryResultsInput{QueryId: aws.String(pagedQuery), MaxQueryResults: aws.Int32(50)}
		for page := 1; ; page++ {
			res, err := ct.GetQueryResults(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got := tb.resultTable(t)
			if diff := cmp.Diff(sdkTable(res.QueryResultRows), got); diff != "" {
				t.Errorf("page %d differs from GetQueryResults (-want +got):\n%s", page, diff)
			}
			if res.NextToken == nil {
				if page != 2 {
					t.Errorf("%d pages of 50 rows, want 2", page)
				}
				if browse(t, tb, chromedp.Evaluate[bool](`!!document.getElementById("next-page")`)) {
					t.Errorf("the last page links to a next one")
				}
				break
			}
			in.NextToken = res.NextToken
			tb.submit(t, "#next-page")
		}
		if got := tb.text(t, "#results-count"); got != "Rows 51–100 of 100" {
			t.Errorf("the second page says %q", got)
		}
		tb.submit(t, "#first-page")
		var names, users []string
		for _, r := range tb.resultTable(t)[1:] {
			names, users = append(names, r[1]), append(users, r[2])
		}
		if !strings.Contains(strings.Join(names, "\n"), hostileName) || !strings.Contains(strings.Join(users, "\n"), hostileUser) {
			t.Errorf("the hostile cells are not shown as text: %q %q", names, users)
		}
		counts := browse(t, tb, chromedp.Evaluate[[]int](`[
			document.querySelectorAll("script:not([src])").length,
			document.querySelectorAll("main img, #results script").length]`))
		if diff := cmp.Diff([]int{0, 0}, counts); diff != "" {
			t.Errorf("inline scripts, injected elements (-want +got):\n%s", diff)
		}
		time.Sleep(300 * time.Millisecond) // let any onerror fire
		tb.checkClean(t)
	})

	t.Run("download CSV", func(t *testing.T) {
		// More rows than one GetQueryResults page: the download streams
		// them all.
		out, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(fmt.Sprintf(
			`SELECT a.eventData.uid AS a, b.eventData.eventName AS b FROM %[1]s a CROSS JOIN %[1]s b ORDER BY a, b.eventData.uid LIMIT 2500`, apps))})
		if err != nil {
			t.Fatal(err)
		}
		d, all := runQueryRows(t, ct, aws.ToString(out.QueryId))
		if d.QueryStatus != types.QueryStatusFinished || len(all) != 2500 {
			t.Fatalf("the big query: %s, %d rows", d.QueryStatus, len(all))
		}
		tb.open(t, ts.URL+"/console/lake/queries/"+aws.ToString(out.QueryId))
		rows, err := csv.NewReader(bytes.NewReader(tb.download(t, "#download-csv"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(sdkTable(all), rows); diff != "" {
			t.Errorf("CSV differs from GetQueryResults (-want +got):\n%s", diff)
		}
	})

	t.Run("save results to a bucket", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/lake/editor?store="+apps)
		tb.do(t, chromedp.SetValue(chromedp.ID("sql"), `SELECT eventData.eventName AS name, count(*) AS n FROM $EDS_ID GROUP BY 1 ORDER BY 1`),
			chromedp.SetValue(chromedp.ID("delivery"), "s3://lake-results/console"))
		tb.submit(t, "#run-query")
		if st := tb.waitQueryPage(t); st != "FINISHED" {
			t.Fatalf("query ended %s: %s", st, tb.text(t, "#query-error"))
		}
		if got := tb.text(t, "#delivery-status"); got != "SUCCESS" {
			t.Fatalf("delivery status %q", got)
		}
		_, all := runQueryRows(t, ct, tb.queryID(t))
		saved, err := csv.NewReader(bytes.NewReader(tb.download(t, "#download-saved"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(sdkTable(all), saved); diff != "" {
			t.Errorf("saved results differ from GetQueryResults (-want +got):\n%s", diff)
		}

		// Results changed in the bucket are refused with an error page.
		list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake-results"), Prefix: aws.String("console/")})
		if err != nil {
			t.Fatal(err)
		}
		var key string
		for _, o := range list.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), "/result_1.csv.gz") {
				key = aws.ToString(o.Key)
			}
		}
		if key == "" {
			t.Fatalf("no result file in the bucket: %+v", list.Contents)
		}
		var forged bytes.Buffer
		zw := gzip.NewWriter(&forged)
		zw.Write([]byte("name,n\nOp0,1000000\n"))
		zw.Close()
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake-results"), Key: aws.String(key), Body: bytes.NewReader(forged.Bytes())}); err != nil {
			t.Fatal(err)
		}
		tb.submit(t, "#download-saved")
		if got := tb.text(t, "#problem"); !strings.Contains(got, "ResultsNotVerified") || !strings.Contains(got, "SHA-256 does not match") {
			t.Errorf("changed results: problem %q", got)
		}
		tb.screenshot(t, "lake-saved-not-verified")
	})

	t.Run("cancel a long query", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/lake/editor?store="+apps)
		tb.do(t, chromedp.SetValue(chromedp.ID("sql"), slowQuery(apps)))
		tb.submit(t, "#run-query")
		id := tb.queryID(t)
		if st := tb.text(t, "#query-status"); st != "QUEUED" && st != "RUNNING" {
			t.Fatalf("the slow query is %s", st)
		}
		tb.waitFor(t, "the page to poll the query's status", `document.getElementById("query-status").textContent === "RUNNING"`, 10*time.Second)
		tb.screenshot(t, "lake-query-running")
		tb.submit(t, "#cancel-query")
		if got := tb.text(t, ".flash"); got != "Query cancelled." {
			t.Errorf("after cancel: flash %q", got)
		}
		d := waitQuery(t, ct, id)
		if d.QueryStatus != types.QueryStatusCancelled {
			t.Errorf("DescribeQuery after cancel: %s", d.QueryStatus)
		}
		if st := tb.waitQueryPage(t); st != "CANCELLED" {
			t.Errorf("the page shows %s after cancel", st)
		}
	})

	t.Run("query history", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/lake/stores/"+apps)
		tb.submit(t, "#store-history")
		lq, err := ct.ListQueries(ctx, &cloudtrail.ListQueriesInput{EventDataStore: aws.String(apps), MaxResults: aws.Int32(20)})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, q := range lq.Queries {
			want = append(want, aws.ToString(q.QueryId)+" "+string(q.QueryStatus))
		}
		got := browse(t, tb, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#history tr[data-id]")].map(tr => tr.dataset.id + " " + tr.querySelector(".query-status").textContent)`))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("history differs from ListQueries (-want +got):\n%s", diff)
		}
		if !strings.Contains(tb.text(t, "#history"), "SELECT eventData.uid AS uid") {
			t.Errorf("the history does not show the statements")
		}
		tb.screenshot(t, "lake-history")
		tb.submit(t, fmt.Sprintf("#history tr[data-id='%s'] a", pagedQuery))
		if got := tb.queryID(t); got != pagedQuery {
			t.Errorf("the history links to query %s, want %s", got, pagedQuery)
		}
	})

	t.Run("stop and start ingestion", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/lake/stores/"+mgmt)
		for _, step := range []struct{ button, want string }{{"#stop-ingestion", "STOPPED_INGESTION"}, {"#start-ingestion", "ENABLED"}} {
			tb.submit(t, step.button)
			g, err := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(mgmt)})
			if err != nil || string(g.Status) != step.want {
				t.Errorf("after %s: %v %s, want %s", step.button, err, g.Status, step.want)
			}
			if got := tb.text(t, "#store-status"); got != step.want {
				t.Errorf("after %s the page shows %q", step.button, got)
			}
		}
	})

	t.Run("delete and restore", func(t *testing.T) {
		tb.open(t, ts.URL+"/console/lake/stores/"+mgmt)
		tb.submit(t, "#delete-store")
		tb.submit(t, "#confirm-delete")
		if got := tb.text(t, "#problem"); !strings.Contains(got, "EventDataStoreTerminationProtectedException") {
			t.Errorf("deleting a protected store: problem %q", got)
		}
		tb.submit(t, "#edit-store")
		tb.do(t, chromedp.Click(chromedp.ID("protected")))
		tb.submit(t, "#save-store")
		if got := tb.text(t, "#store-protection"); got != "Disabled" {
			t.Fatalf("after the edit: protection %q, problem %q", got, tb.text(t, "#problem"))
		}
		tb.submit(t, "#delete-store")
		tb.submit(t, "#confirm-delete")
		if got := tb.text(t, "#store-status"); got != "PENDING_DELETION" || tb.text(t, "#pending-note") == "" {
			t.Errorf("after delete the page shows %q", got)
		}
		if g, _ := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(mgmt)}); g == nil || g.Status != types.EventDataStoreStatusPendingDeletion {
			t.Errorf("GetEventDataStore after delete: %+v", g)
		}
		tb.screenshot(t, "lake-store-pending-deletion")
		tb.submit(t, "#restore-store")
		if g, _ := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(mgmt)}); g == nil || g.Status != types.EventDataStoreStatusEnabled {
			t.Errorf("GetEventDataStore after restore: %+v", g)
		}
		if got := tb.text(t, "#store-status"); got != "ENABLED" {
			t.Errorf("after restore the page shows %q", got)
		}
	})

	t.Run("narrow screen", func(t *testing.T) {
		tb.do(t, chromedp.EmulateViewport(390, 844))
		for _, page := range []struct{ path, shot string }{
			{"/console/lake", "lake-stores-narrow"},
			{"/console/lake/editor?phrase=failed+sign-in&store=" + apps, "lake-editor-narrow"},
			{"/console/lake/queries/" + pagedQuery, "lake-results-narrow"},
		} {
			tb.open(t, ts.URL+page.path)
			if width := browse(t, tb, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); width > 400 {
				t.Errorf("%s is %dpx wide on a 390px screen", page.path, width)
			}
			tb.screenshot(t, page.shot)
		}
		tb.do(t, chromedp.EmulateViewport(1280, 900))
	})
	tb.checkClean(t)
}

// runQueryRows reads every result row of a finished query.
func runQueryRows(tb testing.TB, ct *cloudtrail.Client, id string) (*cloudtrail.DescribeQueryOutput, [][]map[string]string) {
	tb.Helper()
	d := waitQuery(tb, ct, id)
	var rows [][]map[string]string
	in := &cloudtrail.GetQueryResultsInput{QueryId: aws.String(id), MaxQueryResults: aws.Int32(1000)}
	for {
		page, err := ct.GetQueryResults(context.Background(), in)
		if err != nil {
			tb.Fatal(err)
		}
		rows = append(rows, page.QueryResultRows...)
		if page.NextToken == nil {
			return d, rows
		}
		in.NextToken = page.NextToken
	}
}

// The Lake forms over plain HTTP: every POST needs the session's CSRF
// token, and bad input comes back into the form with AWS's error.
func TestConsoleLakeForms(t *testing.T) {
	ts := mustRunMain(t, lakeMemory)
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")
	arn, id := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("forms"), TerminationProtectionEnabled: aws.Bool(false)})
	cc := newConsoleClient(t, ts)

	for _, path := range []string{"/console/lake/new", "/console/lake/stores/" + id + "/edit", "/console/lake/stores/" + id + "/ingestion",
		"/console/lake/stores/" + id + "/delete", "/console/lake/stores/" + id + "/restore", "/console/lake/run",
		"/console/lake/queries/00000000-0000-0000-0000-000000000000/cancel"} {
		resp, err := cc.c.PostForm(cc.base+path, url.Values{"csrf": {"forged"}, "name": {"x-forged"}, "sql": {"SELECT 1"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "InvalidCSRFToken") {
			t.Errorf("POST %s with a forged token: %d\n%.300s", path, resp.StatusCode, body)
		}
	}
	if g, err := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(id)}); err != nil || g.Status != types.EventDataStoreStatusEnabled {
		t.Fatalf("after forged POSTs: %v %+v", err, g)
	}

	// Without script, a running query's page refreshes itself.
	for range 60 {
		ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	waitUntil(t, 15*time.Second, "events in the store", func() bool {
		return counts(t, ct, fmt.Sprintf(`SELECT eventName, count(*) FROM %s WHERE eventName = 'ListTrails' GROUP BY 1`, id))["ListTrails"] == 60
	})
	out, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(slowQuery(id))})
	if err != nil {
		t.Fatal(err)
	}
	page := cc.get("/console/lake/queries/" + aws.ToString(out.QueryId))
	if !strings.Contains(page, `<noscript><meta http-equiv="refresh"`) || !strings.Contains(page, `id="cancel-query"`) {
		t.Errorf("the running query's page:\n%s", page)
	}
	cc.post("/console/lake/queries/"+aws.ToString(out.QueryId)+"/cancel", url.Values{})
	if d := waitQuery(t, ct, aws.ToString(out.QueryId)); d.QueryStatus != types.QueryStatusCancelled {
		t.Errorf("after cancel: %s", d.QueryStatus)
	}

	cc.get("/console/lake/stores/" + id + "/edit")
	form := url.Values{"name": {"forms"}, "retention": {"90"}, "billing": {"EXTENDABLE_RETENTION_PRICING"}, "preset": {"custom"},
		"selectors": {`[{"Name": "broken"`}}
	if p := problemText(cc.post("/console/lake/stores/"+id+"/edit", form)); !strings.Contains(p, "InvalidEventSelectorsException") || !strings.Contains(p, "not valid JSON") {
		t.Errorf("bad selectors JSON: problem %q", p)
	}
	form.Set("selectors", `[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Nope"]}]}]`)
	if p := problemText(cc.post("/console/lake/stores/"+id+"/edit", form)); !strings.Contains(p, "InvalidEventSelectorsException") {
		t.Errorf("an unknown category: problem %q", p)
	}
	form.Set("billing", "FIXED_RETENTION_PRICING")
	form.Set("preset", "management-write")
	if p := problemText(cc.post("/console/lake/stores/"+id+"/edit", form)); !strings.Contains(p, "cannot change from EXTENDABLE_RETENTION_PRICING") {
		t.Errorf("extendable to fixed: problem %q", p)
	}
	form.Set("billing", "EXTENDABLE_RETENTION_PRICING")
	form.Set("retention", "ninety")
	if p := problemText(cc.post("/console/lake/stores/"+id+"/edit", form)); !strings.Contains(p, "whole number of days") {
		t.Errorf("a retention that is not a number: problem %q", p)
	}
	form.Set("retention", "90")
	form.Set("name", "forms-renamed")
	if p := problemText(cc.post("/console/lake/stores/"+id+"/edit", form)); p != "" {
		t.Fatalf("edit: %s", p)
	}
	g, err := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(g.Name) != "forms-renamed" || aws.ToInt32(g.RetentionPeriod) != 90 || aws.ToBool(g.TerminationProtectionEnabled) ||
		len(g.AdvancedEventSelectors) != 1 || len(g.AdvancedEventSelectors[0].FieldSelectors) != 2 {
		t.Errorf("after the edit: %+v", g)
	}

	// A statement the lake refuses comes back into the editor.
	cc.get("/console/lake/editor?store=" + id)
	page = cc.post("/console/lake/run", url.Values{"store": {id}, "sql": {"DELETE FROM $EDS_ID"}})
	if p := problemText(page); !strings.Contains(p, "InvalidQueryStatementException") || !strings.Contains(page, "DELETE FROM $EDS_ID") {
		t.Errorf("a DELETE: problem %q", p)
	}
}
