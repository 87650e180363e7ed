package lake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/opentrail/opentrail/internal/ctdata"
)

func m(path string) string { return s(path) }

// selectFromJSON turns raw records (column raw, transformed with
// recordShape as p) into rows of columnsDDL: how layout 1 appended.
var selectFromJSON = func() string {
	ui := `"userIdentity"`
	sc := ui + `."sessionContext"`
	si := sc + `."sessionIssuer"`
	ed := `"eventData"`
	q := func(n string) string { return `"` + n + `"` }
	cols := []string{
		s(q("eventVersion")),
		st(
			f(`"type"`, s(ui+`."type"`)), f("principalid", s(ui+`."principalId"`)), f("arn", s(ui+`."arn"`)),
			f("accountid", s(ui+`."accountId"`)), f("accesskeyid", s(ui+`."accessKeyId"`)),
			f("username", s(ui+`."userName"`)),
			f("sessioncontext", st(
				f("attributes", st(
					f("creationdate", "COALESCE("+ts(sc+`."attributes"."creationDate"`)+", try_strptime("+s(sc+`."attributes"."creationDate"`)+", '%Y%m%dT%H%M%SZ'))"),
					f("mfaauthenticated", s(sc+`."attributes"."mfaAuthenticated"`)))),
				f("sessionissuer", st(
					f(`"type"`, s(si+`."type"`)), f("principalid", s(si+`."principalId"`)), f("arn", s(si+`."arn"`)),
					f("accountid", s(si+`."accountId"`)), f("username", s(si+`."userName"`)))),
				f("webidfederationdata", st(
					f("federatedprovider", s(sc+`."webIdFederationData"."federatedProvider"`)),
					f("attributes", m(sc+`."webIdFederationData"."attributes"`)))),
				f("sourceidentity", s(sc+`."sourceIdentity"`)),
				f("ec2roledelivery", s(sc+`."ec2RoleDelivery"`)),
				f("ec2issuedinvpc", s(sc+`."ec2IssuedInVPC"`)))),
			f("onbehalfof", st(f("userid", s(ui+`."onBehalfOf"."userId"`)), f("identitystorearn", s(ui+`."onBehalfOf"."identityStoreArn"`)))),
			f("inscopeof", st(f("sourcearn", s(ui+`."inScopeOf"."sourceArn"`)), f("sourceaccount", s(ui+`."inScopeOf"."sourceAccount"`)),
				f("issuertype", s(ui+`."inScopeOf"."issuerType"`)), f("credentialsissuedto", s(ui+`."inScopeOf"."credentialsIssuedTo"`)))),
			f("invokedby", s(ui+`."invokedBy"`)), f("identityprovider", s(ui+`."identityProvider"`)),
		),
		s(q("eventTime")),
		s(q("eventSource")), s(q("eventName")), s(q("awsRegion")), s(q("sourceIPAddress")), s(q("userAgent")),
		s(q("errorCode")), s(q("errorMessage")),
		m(q("requestParameters")), m(q("responseElements")), m(q("additionalEventData")),
		s(q("requestID")), s(q("eventID")), b(q("readOnly")),
		`list_transform(p."resources", r -> struct_pack(accountid := r."accountId", "type" := r."type", arn := r."ARN", arnprefix := r."ARNPrefix"))`,
		s(q("eventType")), s(q("apiVersion")), b(q("managementEvent")), s(q("recipientAccountId")),
		s(q("sharedEventID")), s(q("annotation")), s(q("vpcEndpointId")), s(q("vpcEndpointAccountId")),
		m(q("serviceEventDetails")), m(q("addendum")), m(q("edgeDeviceDetails")), m(q("insightDetails")),
		s(q("eventCategory")),
		st(f("tlsversion", s(`"tlsDetails"."tlsVersion"`)), f("ciphersuite", s(`"tlsDetails"."cipherSuite"`)),
			f("clientprovidedhostheader", s(`"tlsDetails"."clientProvidedHostHeader"`))),
		s(q("sessionCredentialFromConsole")),
		st(f("ingestiontime", s(`"metadata"."ingestionTime"`)), f("channelarn", s(`"metadata"."channelARN"`))),
		st(
			f(`"version"`, s(ed+`."version"`)),
			f("useridentity", st(f(`"type"`, s(ed+`."userIdentity"."type"`)), f("principalid", s(ed+`."userIdentity"."principalId"`)),
				f("details", m(ed+`."userIdentity"."details"`)))),
			f("useragent", s(ed+`."userAgent"`)), f("eventsource", s(ed+`."eventSource"`)), f("eventname", s(ed+`."eventName"`)),
			f("eventtime", s(ed+`."eventTime"`)), f("uid", s(ed+`."UID"`)),
			f("requestparameters", m(ed+`."requestParameters"`)), f("responseelements", m(ed+`."responseElements"`)),
			f("errorcode", s(ed+`."errorCode"`)), f("errormessage", s(ed+`."errorMessage"`)),
			f("sourceipaddress", s(ed+`."sourceIPAddress"`)), f("recipientaccountid", s(ed+`."recipientAccountId"`)),
			f("additionaleventdata", m(ed+`."additionalEventData"`)),
		),
		"raw",
		"sha256(raw)",
	}
	return strings.Join(cols, ",\n\t")
}()

// testRecords reads the records of the shared test data, plus a few
// bodies that are hard to convert.
func testRecords(t *testing.T) [][]byte {
	t.Helper()
	out, _ := ctdata.Load(t, "../../shared/testdata/cloudtrail")
	return append(out,
		[]byte(`{"eventTime":"not a time","readOnly":"maybe","requestParameters":"a string","responseElements":[1,2],"resources":{"ARN":"x"},"eventData":[],"userIdentity":"root"}`),
		[]byte(`{"requestParameters":{"n":1e400,"f":1.50,"big":123456789012345678901234567890,"u":"\u00e9\ud83d\ude00","e":{},"l":[],"t":true,"z":null},"resources":[null,{"ARN":1}],"eventData":{"userIdentity":{"details":{"a":{"b":[1]}}}}}`),
		[]byte(`{"eventID":"dup"}`), []byte(`{"eventID":"dup"}`),
	)
}

// stage puts events into the table legacy_staging of db.
func stage(t *testing.T, db *sql.DB, events [][]byte) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TABLE legacy_staging (raw VARCHAR)`); err != nil {
		t.Fatal(err)
	}
	err = conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "legacy_staging")
		if err != nil {
			return err
		}
		for _, ev := range events {
			if isObject(ev) {
				if err := a.AppendRow(string(ev)); err != nil {
					return err
				}
			}
		}
		return a.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// makeWide creates table name as layout 1 stored a store, holding events.
func makeWide(t *testing.T, db *sql.DB, name string, events [][]byte) {
	t.Helper()
	stage(t, db, events)
	for _, q := range []string{
		`CREATE TABLE ` + name + ` (` + columnsDDL + `)`,
		`INSERT INTO ` + name + ` SELECT ` + selectFromJSON + ` FROM (SELECT raw, json_transform(raw, '` + recordShape + `') AS p FROM legacy_staging)`,
		`DROP TABLE legacy_staging`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", firstLine(q), err)
		}
	}
}

// describe lists the columns and types of table or view name.
func describe(t *testing.T, e *Engine, name string) []string {
	t.Helper()
	rows, err := e.db.Query(`SELECT column_name, column_type FROM (DESCRIBE ` + name + `)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		out = append(out, n+" "+ty)
	}
	return out
}

// contents is every row of name as text, in a stable order.
func contents(t *testing.T, e *Engine, name string) []string {
	t.Helper()
	rows, err := e.db.Query(`SELECT CAST(x AS VARCHAR) AS r FROM ` + name + ` x ORDER BY r`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d lines, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			if bad++; bad <= 3 {
				t.Errorf("%s line %d:\n got %s\nwant %s", what, i, got[i], want[i])
			}
		}
	}
}

// TestViewMatchesWide appends the test records to a store and checks that
// its view has the columns, types and values the wide table of layout 1
// holds for the same records.
func TestViewMatchesWide(t *testing.T) {
	ctx := context.Background()
	e, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	events := testRecords(t)
	const id = "4b2e1f9c-0a1b-4c2d-8e3f-112233445566"
	if err := e.CreateStore(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.Append(ctx, id, 1, events); err != nil {
		t.Fatal(err)
	}
	if !e.zstd {
		t.Error("a new database file has no ZSTD strings")
	}
	makeWide(t, e.db, "wide", events)
	sameLines(t, "columns", describe(t, e, storeTable(id)), describe(t, e, "wide"))
	want := contents(t, e, "wide")
	if len(want) < 500 {
		t.Fatalf("only %d test records", len(want))
	}
	sameLines(t, "rows", contents(t, e, storeTable(id)), want)
}

// TestMigrateWide opens a lake written by the previous version (layout 1,
// DuckDB's default storage format): Open converts its store, which keeps
// its columns, events, checkpoint and size, and takes appends.
func TestMigrateWide(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	events := testRecords(t)
	const id = "4b2e1f9c-0a1b-4c2d-8e3f-112233445566"
	var size int64
	for _, ev := range events {
		if isObject(ev) {
			size += int64(len(ev))
		}
	}
	// The database as the previous version created it.
	old, err := duckdb.NewConnector(filepath.Join(dir, "lake.duckdb"), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(old)
	for _, q := range []string{
		`CREATE TABLE lake_stores (id VARCHAR PRIMARY KEY, seq BIGINT NOT NULL, events BIGINT NOT NULL, bytes BIGINT NOT NULL)`,
		`CREATE SCHEMA results`,
		`CREATE TABLE lake_results (id VARCHAR PRIMARY KEY, columns VARCHAR NOT NULL, rows BIGINT NOT NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	makeWide(t, db, storeTable(id), events)
	makeWide(t, db, "wide", events)
	if _, err := db.Exec(`INSERT INTO lake_stores VALUES (?, 42, ?, ?)`, id, len(events), size); err != nil {
		t.Fatal(err)
	}
	want := contents(t, &Engine{db: db}, "wide")
	cols := describe(t, &Engine{db: db}, "wide")
	db.Close()
	old.Close()

	e, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var kind string
	if err := e.db.QueryRow(`SELECT table_type FROM information_schema.tables WHERE table_name = ?`, "eds_"+id).Scan(&kind); err != nil || kind != "VIEW" {
		t.Fatalf("after Open the store is %q, %v; want a VIEW", kind, err)
	}
	if e.zstd {
		t.Error("a database file of format v1.0.0 is taken to have ZSTD strings")
	}
	sameLines(t, "columns", describe(t, e, storeTable(id)), cols)
	sameLines(t, "rows", contents(t, e, storeTable(id)), want)
	if cp, err := e.Checkpoint(ctx, id); err != nil || cp != 42 {
		t.Errorf("Checkpoint = %d, %v; want 42", cp, err)
	}
	if st, err := e.Stats(ctx, id); err != nil || st.Events != int64(len(want)) || st.Bytes != size {
		t.Errorf("Stats = %+v, %v; want %d events, %d bytes", st, err, len(want), size)
	}
	if err := e.Append(ctx, id, 43, events[:10]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Import(ctx, id, "file", events[10:20]); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM ` + storeTable(id)).Scan(&n); err != nil || n != len(want)+20 {
		t.Errorf("after an append and an import: %d rows, %v; want %d", n, err, len(want)+20)
	}
	// Opening again changes nothing.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e3, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	if err := e3.db.QueryRow(`SELECT count(*) FROM ` + storeTable(id)).Scan(&n); err != nil || n != len(want)+20 {
		t.Errorf("reopened: %d rows, %v; want %d", n, err, len(want)+20)
	}
	if ok, err := e3.Imported(ctx, id, "file"); !ok || err != nil {
		t.Errorf("Imported after reopening = %v, %v", ok, err)
	}
}

// FuzzRecord appends arbitrary JSON objects as records: Append never
// fails on a body it accepts, and every column of the view can be read
// for it afterwards (the view rebuilds maps, lists and eventdata when
// read, so a record it could not read would break every query of its
// store). Where layout 1 could store the record, the view's row is the
// row layout 1 stored.
func FuzzRecord(f *testing.F) {
	for _, seed := range []string{
		`{"eventTime":"2024-01-01T00:00:00Z","requestParameters":{"a":{"b":[1,2]}},"resources":[{"ARN":"x"}]}`,
		`{"requestParameters":"text","responseElements":[1],"resources":{"a":1},"eventData":[],"userIdentity":7}`,
		`{"requestParameters":{"n":1e400,"u":"\u0000\ud800"},"eventData":{"userIdentity":{"details":{"k":null}}}}`,
		`{"eventTime":"2024-01-01T00:00:00Z","userAgent":"a\u003cb","requestParameters":{"a":"\u003cx\u003e","o":{"k":"\u00e9\u003c\ud83d\ude00"}},"responseElements":null,"userIdentity":{"arn":"x","sessionContext":null}}`,
		`{"eventTime":"20240101T000000Z","readOnly":"yes","userIdentity":{"sessionContext":{"attributes":{"creationDate":"20240101T000000Z"}}}}`,
	} {
		f.Add(seed)
	}
	e, err := Open(f.TempDir(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	const id = "4b2e1f9c-0a1b-4c2d-8e3f-112233445566"
	if err := e.CreateStore(ctx, id); err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, rec string) {
		if !isObject([]byte(rec)) {
			return
		}
		n++
		src := strings.Repeat("x", n)
		if _, err := e.Import(ctx, id, src, [][]byte{[]byte(rec)}); err != nil {
			// Layout 1 could not store it either.
			var wideErr error
			stageAndWide(e, rec, &wideErr)
			if wideErr == nil {
				t.Fatalf("Import failed (%v) for a record layout 1 stores: %s", err, rec)
			}
			return
		}
		if !utf8.ValidString(rec) {
			// Not a parameter DuckDB binds: read the whole store.
			var n int
			if err := e.db.QueryRow(`SELECT count(*) FROM (SELECT CAST(x AS VARCHAR) AS r FROM ` + storeTable(id) + ` x) WHERE r IS NOT NULL`).Scan(&n); err != nil {
				t.Fatalf("reading the store: %v (after %q)", err, rec)
			}
			return
		}
		var got string
		if err := e.db.QueryRow(`SELECT CAST(x AS VARCHAR) FROM `+storeTable(id)+` x WHERE eventjson = ?`, rec).Scan(&got); err != nil {
			t.Fatalf("reading the record back: %v: %s", err, rec)
		}
		var wideErr error
		want := stageAndWide(e, rec, &wideErr)
		if wideErr == nil && got != want {
			t.Fatalf("view row\n%s\nlayout 1 row\n%s", got, want)
		}
	})
}

// stageAndWide converts rec as layout 1 did and returns the row as text.
func stageAndWide(e *Engine, rec string, errp *error) string {
	var row string
	if _, *errp = e.db.Exec(`CREATE TABLE IF NOT EXISTS fuzz_wide (` + columnsDDL + `)`); *errp != nil {
		return ""
	}
	defer e.db.Exec(`DELETE FROM fuzz_wide`)
	_, *errp = e.db.Exec(`INSERT INTO fuzz_wide SELECT `+selectFromJSON+` FROM (SELECT raw, json_transform(raw, '`+recordShape+`') AS p FROM (SELECT CAST(? AS VARCHAR) AS raw))`, rec)
	if *errp != nil {
		return ""
	}
	*errp = e.db.QueryRow(`SELECT CAST(x AS VARCHAR) FROM fuzz_wide x`).Scan(&row)
	return row
}

// TestUpgradeLayout2 opens a lake whose store has layout 2's data table
// (no UUID columns, every eventjson whole): Open adds the columns, the
// store reads as before, and appends go on.
func TestUpgradeLayout2(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	events := testRecords(t)
	const id = "4b2e1f9c-0a1b-4c2d-8e3f-112233445566"
	e, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateStore(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.Append(ctx, id, 1, events); err != nil {
		t.Fatal(err)
	}
	want := contents(t, e, storeTable(id))
	// Rewrite the data table as layout 2 kept it.
	var uuids int
	if err := e.db.QueryRow(`SELECT count(eventid_u) + count(requestid_u) FROM ` + dataTable(id)).Scan(&uuids); err != nil || uuids == 0 {
		t.Fatalf("%d UUIDs stored in their own columns (%v)", uuids, err)
	}
	for _, q := range []string{
		`CREATE TABLE layout2 AS SELECT * EXCLUDE (eventid_u, requestid_u) REPLACE (` +
			columnExpr(columnIndex("eventid")) + ` AS eventid, ` + columnExpr(columnIndex("requestid")) + ` AS requestid, ` +
			rebuildEventJSON + ` AS eventjson) FROM ` + dataTable(id),
		`DROP VIEW ` + storeTable(id),
		`DROP VIEW ` + flatTable(id),
		`DROP TABLE ` + dataTable(id),
		`ALTER TABLE layout2 RENAME TO ` + dataTable(id),
	} {
		if _, err := e.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", firstLine(q), err)
		}
	}
	e.Close()

	if e, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sameLines(t, "rows after the upgrade", contents(t, e, storeTable(id)), want)
	if err := e.Append(ctx, id, 2, events[:100]); err != nil {
		t.Fatal(err)
	}
	var n, marked int
	if err := e.db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE contains(eventjson, chr(1))) FROM `+dataTable(id)).Scan(&n, &marked); err != nil || n != len(want)+100 || marked == 0 {
		t.Errorf("after an append: %d rows (%d shortened), want %d (%v)", n, marked, len(want)+100, err)
	}
}
