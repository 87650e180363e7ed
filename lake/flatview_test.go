package lake_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/lake"
	"github.com/opentrail/opentrail/lake/samples"
)

// flatCase is a statement of the differential test ($EDS_ID and $OTHER
// are the two stores) and whether the translator should read the flat
// views for it, and then which leaf columns it should read.
type flatCase struct {
	stmt   string
	flat   bool
	leaves []string
}

func flat(stmt string, leaves ...string) flatCase { return flatCase{stmt, true, leaves} }
func plain(stmt string) flatCase                  { return flatCase{stmt: stmt} }

// flatCases are statements written for the flat view rewrite: paths
// qualified, aliased, quoted and in mixed case, in every clause, joins of
// two stores, and every shape the rewrite must leave alone.
var flatCases = []flatCase{
	// Rewritten.
	flat(`SELECT userIdentity.arn, count(*) FROM $EDS_ID WHERE errorCode = 'AccessDenied' GROUP BY 1 ORDER BY 2 DESC, 1`, "ot_ui_arn"),
	flat(`SELECT useridentity.arn FROM $EDS_ID ORDER BY arn NULLS FIRST, eventid LIMIT 50`, "ot_ui_arn"),
	flat(`SELECT useridentity.arn x FROM $EDS_ID ORDER BY x, eventid LIMIT 50`, "ot_ui_arn"),
	flat(`select A."userIdentity"."ARN", a.TLSDETAILS.tlsVersion from $EDS_ID a where a.useridentity.TYPE = 'AssumedRole' order by 1, 2`, "ot_ui_arn", "ot_tls_tlsversion", "ot_ui_type"),
	flat(`SELECT "UserIdentity"."SessionContext"."SessionIssuer"."UserName", count(*) AS n FROM $EDS_ID AS "T" WHERE "t".userIdentity.type = 'AssumedRole' GROUP BY 1 ORDER BY n DESC, 1`, "ot_ui_si_username"),
	flat(`SELECT useridentity . /* spaced */ sessioncontext . attributes . mfaauthenticated AS mfa, count(*) FROM $EDS_ID GROUP BY useridentity.sessioncontext.attributes.mfaauthenticated ORDER BY 1`, "ot_ui_sc_mfaauthenticated"),
	flat(`SELECT useridentity.type, count(*) FROM $EDS_ID GROUP BY useridentity.type HAVING count(DISTINCT useridentity.arn) > 1 ORDER BY 1`, "ot_ui_type", "ot_ui_arn"),
	flat(`SELECT useridentity.sessioncontext.attributes.creationdate, date_trunc('day', useridentity.sessioncontext.attributes.creationdate), EXTRACT(YEAR FROM useridentity.sessioncontext.attributes.creationdate) FROM $EDS_ID WHERE useridentity.sessioncontext.attributes.creationdate IS NOT NULL ORDER BY 1, eventid`, "ot_ui_sc_creationdate"),
	flat(`SELECT useridentity.principalid, useridentity.accountid, useridentity.accesskeyid, useridentity.username, useridentity.invokedby, useridentity.identityprovider FROM $EDS_ID ORDER BY eventid, eventtime`, "ot_ui_principalid", "ot_ui_identityprovider"),
	flat(`SELECT useridentity.sessioncontext.sessionissuer.type, useridentity.sessioncontext.sessionissuer.principalid, useridentity.sessioncontext.sessionissuer.arn, useridentity.sessioncontext.sessionissuer.accountid, useridentity.sessioncontext.webidfederationdata.federatedprovider, useridentity.sessioncontext.sourceidentity, useridentity.sessioncontext.ec2roledelivery, useridentity.sessioncontext.ec2issuedinvpc FROM $EDS_ID ORDER BY eventid, eventtime`, "ot_ui_si_arn", "ot_ui_sc_ec2issuedinvpc"),
	flat(`SELECT useridentity.onbehalfof.userid, useridentity.onbehalfof.identitystorearn, useridentity.inscopeof.sourcearn, useridentity.inscopeof.sourceaccount, useridentity.inscopeof.issuertype, useridentity.inscopeof.credentialsissuedto FROM $EDS_ID WHERE useridentity.onbehalfof.userid IS NOT NULL OR useridentity.inscopeof.sourcearn IS NOT NULL ORDER BY eventid`, "ot_ui_obo_userid", "ot_ui_iso_credentialsissuedto"),
	flat(`SELECT tlsDetails.tlsVersion, tlsDetails.cipherSuite, tlsDetails.clientProvidedHostHeader, count(*) FROM $EDS_ID GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3`, "ot_tls_ciphersuite"),
	flat(`SELECT metadata.channelarn, metadata.ingestiontime, eventdata.useridentity.type, eventdata.eventname FROM $EDS_ID WHERE metadata.channelarn IS NOT NULL ORDER BY 1, 2`, "ot_md_channelarn", "ot_md_ingestiontime"),
	flat(`SELECT coalesce(tlsdetails.tlsversion, 'none') AS v, count(*) FROM $EDS_ID GROUP BY 1 ORDER BY 1`, "ot_tls_tlsversion"),
	flat(`SELECT element_at(useridentity.sessioncontext.webidfederationdata.attributes, 'a'), useridentity.sessioncontext.webidfederationdata.attributes, useridentity.type FROM $EDS_ID WHERE useridentity.sessioncontext.webidfederationdata.attributes IS NOT NULL ORDER BY eventid`, "ot_ui_type"),
	flat(`SELECT CAST(useridentity.arn AS VARCHAR) || '!', upper(useridentity.arn), length(useridentity.arn) * 2 FROM $EDS_ID ORDER BY eventid, eventtime LIMIT 40`, "ot_ui_arn"),
	flat(`SELECT count(*) * 2, count(DISTINCT useridentity.arn), min(useridentity.arn), max(useridentity.arn) FROM $EDS_ID`, "ot_ui_arn"),
	flat(`SELECT DISTINCT useridentity.type FROM $EDS_ID ORDER BY 1`, "ot_ui_type"),
	flat(`SELECT 'useridentity.arn', "useridentity"."arn" FROM $EDS_ID WHERE useridentity.arn LIKE '%role%' ORDER BY 2 LIMIT 5`, "ot_ui_arn"),
	flat(`SELECT useridentity.arn, row_number() OVER (PARTITION BY useridentity.type ORDER BY eventtime, eventid) AS n FROM $EDS_ID ORDER BY eventtime, eventid LIMIT 30`, "ot_ui_arn", "ot_ui_type"),
	flat(`SELECT eventname FROM $EDS_ID WHERE useridentity.arn IN (SELECT useridentity.arn FROM $OTHER WHERE errorcode IS NOT NULL) ORDER BY eventid, eventtime`, "ot_ui_arn"),
	flat(`SELECT count(*) FROM $EDS_ID a WHERE EXISTS (SELECT 1 FROM $OTHER b WHERE b.useridentity.arn = a.useridentity.arn AND b.eventid <> a.eventid)`, "ot_ui_arn"),
	flat(`SELECT a.useridentity.arn, b.useridentity.type, count(*) FROM $EDS_ID a JOIN $OTHER b ON a.eventid = b.eventid GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2`, "ot_ui_arn", "ot_ui_type"),
	flat(`SELECT a.useridentity.arn, b.tlsdetails.tlsversion FROM $EDS_ID a LEFT JOIN $OTHER AS b ON a.eventid = b.eventid AND a.useridentity.arn = b.useridentity.arn ORDER BY a.eventid, a.eventtime, 1, 2`, "ot_ui_arn", "ot_tls_tlsversion"),
	flat(`SELECT a.useridentity.arn FROM $EDS_ID a, $OTHER b WHERE a.eventid = b.eventid ORDER BY 1 NULLS FIRST`, "ot_ui_arn"),
	flat(`SELECT useridentity.arn FROM $EDS_ID WHERE useridentity.arn IS NOT NULL UNION SELECT useridentity.sessioncontext.sessionissuer.arn FROM $OTHER ORDER BY 1`, "ot_ui_arn", "ot_ui_si_arn"),
	flat(`SELECT count(*) FROM $EDS_ID WHERE useridentity.arn IS DISTINCT FROM useridentity.sessioncontext.sessionissuer.arn`, "ot_ui_si_arn"),
	flat(`SELECT useridentity.arn, count(*) FROM $EDS_ID GROUP BY useridentity.arn QUALIFY row_number() OVER (ORDER BY count(*) DESC, useridentity.arn) <= 3`, "ot_ui_arn"),
	flat(`SELECT useridentity.arn FROM $EDS_ID WHERE eventname = ANY (SELECT eventname FROM $OTHER) ORDER BY 1 LIMIT 10`, "ot_ui_arn"),
	plain(`SELECT useridentity.arnx FROM $EDS_ID` + "\n" + `WHERE useridentity.arn IS NULL`),

	// Left alone.
	plain(`SELECT count(*) FROM $EDS_ID`),
	plain(`SELECT * FROM $EDS_ID WHERE useridentity.arn IS NOT NULL ORDER BY eventid, eventtime LIMIT 5`),
	plain(`SELECT a.*, a.useridentity.arn FROM $EDS_ID a ORDER BY a.eventid, a.eventtime LIMIT 5`),
	plain(`SELECT count(*) FROM $EDS_ID a NATURAL JOIN $OTHER b WHERE a.useridentity.arn IS NOT NULL`),
	plain(`SELECT count(*) FROM $EDS_ID a JOIN $OTHER b USING (eventid) WHERE a.useridentity.arn IS NOT NULL`),
	plain(`WITH t AS (SELECT useridentity FROM $EDS_ID) SELECT useridentity.arn FROM t ORDER BY 1`),
	plain(`WITH t AS (SELECT eventname AS useridentity FROM $EDS_ID) SELECT useridentity FROM t ORDER BY 1`),
	plain(`WITH useridentity AS (SELECT useridentity AS arn FROM $EDS_ID) SELECT useridentity.arn FROM useridentity ORDER BY 1`),
	plain(`SELECT useridentity.arn FROM (SELECT useridentity FROM $EDS_ID) x ORDER BY 1`),
	plain(`SELECT x.useridentity.arn FROM (SELECT useridentity, eventid FROM $EDS_ID) x ORDER BY x.eventid, 1`),
	plain(`SELECT useridentity.arn FROM (SELECT eventname AS useridentity FROM $EDS_ID) ORDER BY 1`),
	plain(`SELECT useridentity.arn FROM (SELECT {'arn': eventname} AS useridentity FROM $EDS_ID) ORDER BY 1`),
	plain(`SELECT eventname AS useridentity, useridentity.arn FROM $EDS_ID ORDER BY 1, 2`),
	plain(`SELECT useridentity.arn AS useridentity FROM $EDS_ID ORDER BY useridentity`),
	plain(`SELECT useridentity.arn AS metadata, metadata.channelarn FROM $EDS_ID ORDER BY 1, 2`),
	plain(`SELECT useridentity.arn FROM $EDS_ID GROUP BY useridentity ORDER BY 1`),
	plain(`SELECT a.useridentity.arn FROM $EDS_ID a GROUP BY a.useridentity ORDER BY 1`),
	plain(`SELECT useridentity.sessioncontext.sessionissuer.arn, count(*) FROM $EDS_ID GROUP BY useridentity.sessioncontext ORDER BY 1, 2`),
	plain(`SELECT useridentity['arn'], count(*) FROM $EDS_ID GROUP BY useridentity.arn ORDER BY 1, 2`),
	plain(`SELECT useridentity.sessioncontext FROM $EDS_ID ORDER BY eventid LIMIT 5`),
	plain(`SELECT transform(resources, useridentity -> useridentity.arn), useridentity.arn FROM $EDS_ID ORDER BY eventid, eventtime`),
	plain(`SELECT filter(resources, r -> r.arn = useridentity.arn) FROM $EDS_ID ORDER BY eventid, eventtime`),
	plain(`SELECT transform(resources, lambda useridentity: useridentity.arn) FROM $EDS_ID ORDER BY eventid, eventtime`),
	plain(`SELECT [useridentity.arn FOR useridentity IN resources] FROM $EDS_ID ORDER BY eventid, eventtime`),
	plain(`SELECT useridentity.arn FROM $EDS_ID CROSS JOIN UNNEST(resources) AS t(useridentity) ORDER BY 1`),
	plain(`SELECT r.arn, useridentity.arn FROM $EDS_ID CROSS JOIN UNNEST(resources) AS t(r) ORDER BY 1, 2`),
	plain(`SELECT useridentity.arn FROM $EDS_ID UNION ALL BY NAME SELECT useridentity.arn FROM $OTHER ORDER BY 1`),
	plain(`(SELECT useridentity.arn FROM $EDS_ID ORDER BY 1 LIMIT 3)`),
	plain(`SELECT ot_ui_arn, useridentity.arn FROM $EDS_ID`),
	plain(`SELECT "OT_UI_ARN" FROM $EDS_ID`),
	plain(`SELECT useridentity.arn FROM $EDS_ID a WHERE a.ot_ui_arn IS NULL`),
	plain(`SELECT "eds_4b2e1f9c-0a1b-4c2d-8e3f-112233445566".useridentity.arn FROM $EDS_ID ORDER BY 1`),
	plain(`SELECT a.useridentity.arn, a FROM $EDS_ID a WHERE a.eventname = 'ConsoleLogin' ORDER BY a.eventid, a.eventtime`),
	plain(`SELECT metadata.channelarn FROM $EDS_ID metadata`),
	plain(`SELECT useridentity.arn FROM $EDS_ID AS t(a, b) ORDER BY 1`),
	plain(`SELECT b.arn FROM $EDS_ID AS t(a, b) ORDER BY 1`),
	plain(`SELECT t.useridentity.arn FROM $EDS_ID AS t(a, b) ORDER BY 1`),
	plain(`SELECT CAST(useridentity.arn AS useridentity.arn) FROM $EDS_ID`),
	plain(`SELECT useridentity.arnx FROM $EDS_ID`),
	// DuckDB's messages would show the leaf columns.
	plain(`SELECT useridentity.arn FROM $EDS_ID a JOIN $OTHER b ON a.eventid = b.eventid`),
	plain(`SELECT useridentity.arn, nosuchcolumn FROM $EDS_ID`),
	plain(`SELECT useridentity.arn FROM $EDS_ID ORDER BY ui_arn`),
	plain(`SELECT useridentity.arn FROM $EDS_ID a, $OTHER b WHERE a.eventid = b.eventid`),
	flat(`SELECT a.useridentity.arn FROM $EDS_ID a, $OTHER b WHERE a.eventid = b.eventid AND b.ui_arn IS NULL`, "ot_ui_arn"),
	flat(`SELECT useridentity.arn FROM $EDS_ID a WHERE a.eventid IN (SELECT eventid FROM $OTHER b WHERE b.useridentity.arn = useridentity.arn) ORDER BY 1`, "ot_ui_arn"),
	plain(`SELECT DISTINCT ON (eventname) * FROM $EDS_ID WHERE useridentity.arn IS NULL ORDER BY eventname, eventid`),
}

// flatStatements is the differential test's corpus: flatCases, the sample
// queries, the catalogue, and the other lake tests' statements.
func flatStatements() []flatCase {
	cases := append([]flatCase(nil), flatCases...)
	var stmts []string
	stmts = append(stmts, sampleQueries...)
	for _, q := range samples.All() {
		stmts = append(stmts, strings.ReplaceAll(q.SQL, samples.StorePlaceholder, "$EDS_ID"))
	}
	stmts = append(stmts,
		`SELECT count(*) FROM $EDS_ID`,
		`SELECT eventName, count(*) AS n FROM $EDS_ID WHERE eventName IS NOT NULL GROUP BY eventName`,
		`select EVENTSOURCE, COUNT(*) from $EDS_ID where eventsource is not null group by 1`,
		`SELECT errorCode, count(*) FROM $EDS_ID WHERE errorCode IS NOT NULL GROUP BY errorCode ORDER BY 2 DESC`,
		`SELECT userIdentity.arn AS who, count(*) FROM $EDS_ID WHERE userIdentity.arn IS NOT NULL GROUP BY userIdentity.arn ORDER BY count(*) DESC, who`,
		`SELECT useridentity.type, count(*) FROM $EDS_ID WHERE useridentity.type IS NOT NULL GROUP BY 1`,
		`SELECT count(*) FROM $EDS_ID WHERE eventTime >= '2023-07-10 12:00:00' AND eventTime < '2023-07-10 12:30:00'`,
		`SELECT date_trunc('hour', eventTime), count(*) FROM $EDS_ID WHERE eventTime IS NOT NULL GROUP BY 1`,
		`SELECT element_at(requestParameters, 'bucketName') AS bucket, count(*) FROM $EDS_ID WHERE element_at(requestParameters, 'bucketName') IS NOT NULL GROUP BY 1`,
		`SELECT count(DISTINCT userIdentity.arn) FROM $EDS_ID`,
		`SELECT eventID, eventName, eventTime, readOnly, count(*) OVER () AS total, errorCode, cardinality(resources) FROM $EDS_ID WHERE errorCode IS NULL AND eventTime IS NOT NULL ORDER BY eventTime DESC, eventID LIMIT 1`,
		`SELECT eventID, eventName FROM $EDS_ID ORDER BY eventTime, eventID`,
		`SELECT eventcategory, metadata.channelarn, eventdata.useridentity.principalid, element_at(eventdata.useridentity.details, 'team'), element_at(eventdata.requestparameters, 'door'), eventdata.uid, eventtime FROM $EDS_ID`,
		`SELECT eventSource, eventName, count(*) AS n FROM $EDS_ID WHERE eventTime > '2024-01-01 00:00:00' GROUP BY 1, 2 ORDER BY n DESC LIMIT 20`,
		`SELECT userIdentity.arn, count(*) FROM $EDS_ID WHERE errorCode = 'AccessDenied' GROUP BY 1 ORDER BY 2 DESC`,
		`SELECT element_at(requestParameters, 'bucketName') AS bucket, count(*) FROM $EDS_ID GROUP BY 1`,
		`SELECT eventName, count(*) FROM $EDS_ID GROUP BY 1`,
		`SELECT element_at(requestParameters, 'bucketName') FROM $EDS_ID`,
		`SELECT * FROM $EDS_ID CROSS JOIN UNNEST(resources) AS t(r) WHERE r.arn LIKE '%x%'`,
		`SELECT EXTRACT(year FROM eventtime), date_format(eventtime, '%Y %i') FROM $EDS_ID`,
		`SELECT nosuchcolumn FROM $EDS_ID`,
		`SELECT * FROM $EDS_ID a JOIN $EDS_ID b ON a.eventid = b.eventid WHERE a.eventname = 'x'`,
	)
	for _, s := range stmts {
		cases = append(cases, flatCase{stmt: s}) // whether rewritten is not asserted
	}
	return cases
}

// activityRecord is an ActivityAuditLog event, for metadata's fields.
const activityRecord = `{"eventVersion":"1.09","eventCategory":"ActivityAuditLog","eventTime":"2024-03-01T10:00:00Z","eventID":"act-1","awsRegion":"us-east-1","recipientAccountId":"123456789012",
 "metadata":{"ingestionTime":"2024-03-01T10:00:01Z","channelARN":"arn:aws:cloudtrail:us-east-1:123456789012:channel/c1"},
 "eventData":{"version":"0.01","userIdentity":{"type":"CustomUser","principalId":"alice","details":{"team":"ops"}},"eventSource":"app.example.com","eventName":"Login","eventTime":"2024-03-01T10:00:00Z","UID":"u-1","requestParameters":{"door":"front"},"recipientAccountId":"123456789012"}}`

// flatResult is the outcome of one statement: its columns and rows, or
// its error.
type flatResult struct {
	cols []string
	rows []string
	err  string
}

func runFlat(t *testing.T, e *lake.Engine, stmt string) flatResult {
	t.Helper()
	ctx := context.Background()
	res, err := e.Query(ctx, stmt, resolver(storeID, otherID), lake.QueryOptions{ID: queryID()})
	if err != nil {
		return flatResult{err: err.Error()}
	}
	if res.Status != lake.StatusFinished {
		return flatResult{err: res.Status + ": " + res.Message}
	}
	r := flatResult{cols: res.Columns}
	for off := int64(0); off >= 0; {
		p, err := e.Results(ctx, res.ID, off, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range p.Rows {
			cells := make([]string, len(row))
			for i, c := range row {
				cells[i] = fmt.Sprintf("%q", c.Value)
				if c.Null {
					cells[i] = "NULL"
				}
			}
			r.rows = append(r.rows, strings.Join(cells, ","))
		}
		off = p.Next
	}
	return r
}

// TestFlatViewDifferential runs every statement of the corpus with and
// without the flat view rewrite on the shared test data and compares the
// results: the same columns and the same rows in the same order (DuckDB
// runs on one thread), or the same failure.
func TestFlatViewDifferential(t *testing.T) {
	events, _ := loadTestdata(t)
	e, err := lake.Open(t.TempDir(), lake.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	for _, id := range []string{storeID, otherID} {
		if err := e.CreateStore(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	extra := [][]byte{[]byte(activityRecord)}
	extra = append(extra, lake.FlatRecords...)
	if err := e.Append(ctx, storeID, 1, append(append([][]byte(nil), events...), extra...)); err != nil {
		t.Fatal(err)
	}
	var some [][]byte
	for i, ev := range events {
		if i%3 == 0 {
			some = append(some, ev)
		}
	}
	if err := e.Append(ctx, otherID, 1, append(some, extra...)); err != nil {
		t.Fatal(err)
	}
	t.Logf("stores of %d and %d events", len(events)+len(extra), len(some)+len(extra))

	cases := flatStatements()
	rewritten, compared, failed := 0, 0, 0
	for n, c := range cases {
		stmt := strings.NewReplacer("$EDS_ID", storeID, "$OTHER", otherID).Replace(c.stmt)
		sql, _, terr := lake.Translate(stmt, resolver(storeID, otherID))
		restore := lake.SetFlatRewrite(false)
		plainSQL, _, perr := lake.Translate(stmt, resolver(storeID, otherID))
		restore()
		if (terr == nil) != (perr == nil) {
			t.Errorf("%q: translate error %v with the rewrite, %v without", stmt, terr, perr)
			continue
		}
		isFlat := terr == nil && strings.Contains(sql, `"edsf_`)
		if isFlat {
			rewritten++
		}
		if n < len(flatCases) {
			// Written for this test: the rewrite happens exactly when expected.
			if c.flat && len(c.leaves) > 0 != isFlat {
				t.Errorf("%q: flattened %v, want %v:\n%s", stmt, isFlat, len(c.leaves) > 0, sql)
			}
			if !c.flat && (isFlat || sql != plainSQL) {
				t.Errorf("%q: rewritten, want it left alone:\n%s", stmt, sql)
			}
			for _, l := range c.leaves {
				if !strings.Contains(sql, `"`+l+`"`) {
					t.Errorf("%q: translation does not read %s:\n%s", stmt, l, sql)
				}
			}
			if isFlat && strings.Contains(sql, `"eds_`) && !strings.Contains(sql, ` AS "eds_`) {
				t.Errorf("%q: reads a public view and a flat view:\n%s", stmt, sql)
			}
		}
		if !isFlat && sql != plainSQL {
			t.Errorf("%q: translation changed without the flat view:\n%s\n%s", stmt, sql, plainSQL)
		}
		got := runFlat(t, e, stmt)
		restore = lake.SetFlatRewrite(false)
		want := runFlat(t, e, stmt)
		restore()
		compared++
		if (got.err == "") != (want.err == "") {
			t.Errorf("%q: error %q with the rewrite, %q without\n%s", stmt, got.err, want.err, sql)
			continue
		}
		if got.err != "" {
			failed++
			if got.err != want.err {
				t.Logf("%q: messages differ:\n  with:    %s\n  without: %s", stmt, got.err, want.err)
			}
			continue
		}
		if strings.Join(got.cols, "|") != strings.Join(want.cols, "|") {
			t.Errorf("%q: columns %v with the rewrite, %v without", stmt, got.cols, want.cols)
		}
		if len(got.rows) != len(want.rows) {
			t.Errorf("%q: %d rows with the rewrite, %d without", stmt, len(got.rows), len(want.rows))
			continue
		}
		if strings.Join(got.rows, "\n") != strings.Join(want.rows, "\n") {
			// The same rows in another order is a difference only where
			// the statement orders them completely; report it all the same.
			g, w := append([]string(nil), got.rows...), append([]string(nil), want.rows...)
			sort.Strings(g)
			sort.Strings(w)
			same := strings.Join(g, "\n") == strings.Join(w, "\n")
			for i := range got.rows {
				if got.rows[i] != want.rows[i] {
					t.Errorf("%q: row %d is %s with the rewrite, %s without (same rows in another order: %v)", stmt, i, got.rows[i], want.rows[i], same)
					break
				}
			}
		}
	}
	t.Logf("%d statements compared (%d failed both ways), %d of them rewritten", compared, failed, rewritten)
	if rewritten < 40 {
		t.Errorf("only %d statements rewritten", rewritten)
	}
}

// TestFlatViewErrors checks that an error in a flattened statement names
// the struct path the statement wrote, not the flat view's leaf column.
func TestFlatViewErrors(t *testing.T) {
	e := mustOpen(t, t.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`SELECT useridentity.arn FROM ` + storeID + ` GROUP BY eventid`,
		`SELECT useridentity.sessioncontext.sessionissuer.arn, count(*) FROM ` + storeID + ` GROUP BY eventname`,
	} {
		err := e.Check(ctx, stmt, resolver(storeID))
		var qe *lake.QueryError
		if !errors.As(err, &qe) {
			t.Fatalf("Check(%q) = %v, want a QueryError", stmt, err)
		}
		if strings.Contains(qe.Message, "ui_") || strings.Contains(qe.Message, "ot_") || !strings.Contains(qe.Message, "useridentity.") {
			t.Errorf("Check(%q): %q names an internal column", stmt, qe.Message)
		}
	}
}
