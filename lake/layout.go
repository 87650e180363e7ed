package lake

import "strings"

// The physical layout of a store (layout 3: layout 2 plus the UUID columns
// of uuidTwin). Writing rows into the wide
// nested table that queries see (columnsDDL: structs, maps, lists) cost
// about 25 µs per row, most of it in DuckDB's handling of nested vectors.
// So a store's events live in a narrow table, dataTable(id), whose columns
// are plain: struct leaves become columns of their own (ui_arn for
// useridentity.arn), and the map, list and eventdata columns, which most
// rows leave empty and few queries read, are kept as the JSON text of the
// record's value. The view storeTable(id) rebuilds columnsDDL from them:
// it has the same column names and types, and a query pays for
// rebuilding a map only when it reads that column. eventjsonchecksum is
// computed from eventjson when read. A database written with layout 1
// (the wide table itself) is converted by Open (migrate.go).
//
// Rows are computed in Go (extract.go) and appended to the data table;
// the few records the extractor leaves alone are converted by DuckDB
// (insertPhysical) into the same columns. The stored eventjson leaves out
// the text of marked fields (eventID, requestID, the caller's address,
// requestParameters, ...) that the columns already hold, and the view
// puts it back (rebuildEventJSON). Rows stored whole, as layout 2 stored
// every row, read the same.

// dataTable is the DuckDB table that holds a store's events; storeTable(id)
// is the view over it that queries read.
func dataTable(id string) string { return `"` + strings.ReplaceAll(dataTableName(id), `"`, `""`) + `"` }

// dataTableName is dataTable unquoted, as DuckDB's appender takes it.
func dataTableName(id string) string { return "edsd_" + id }

// physicalColumn is one column of the data table: its name, type, the
// expression that computes it from a record (column raw, transformed with
// physicalShape as p), and what the Go extractor (extract.go) needs to
// compute the same value without DuckDB: the record path and the kind of
// value. marked columns are the ones whose text the stored eventjson may
// leave out (see rebuildEventJSON).
type physicalColumn struct {
	name, typ, expr string
	path            []string
	kind            colKind
	marked          bool
}

// colKind says how a column's value comes from its record field.
type colKind uint8

const (
	kindString   colKind = iota // VARCHAR: a JSON string, its decoded text
	kindJSON                    // VARCHAR: the JSON text of any value
	kindTime                    // TIMESTAMP: eventTime
	kindCreation                // TIMESTAMP: sessionContext creationDate, two formats
	kindBool                    // BOOLEAN
	kindRecord                  // VARCHAR: the record (eventjson)
	kindUUID                    // UUID: a kindString column's value, when a UUID (uuidTwin)
)

// mapType is the structure json_transform rebuilds map columns with.
const mapType = `'"MAP(VARCHAR, VARCHAR)"'`

// sqlPath quotes a record path for s().
func sqlPath(path []string) string {
	q := make([]string, len(path))
	for i, k := range path {
		q[i] = `"` + k + `"`
	}
	return strings.Join(q, ".")
}

func strCol(name string, path ...string) physicalColumn {
	return physicalColumn{name: name, typ: "VARCHAR", expr: s(sqlPath(path)), path: path, kind: kindString}
}

func jsonCol(name string, path ...string) physicalColumn {
	return physicalColumn{name: name, typ: "VARCHAR", expr: s(sqlPath(path)), path: path, kind: kindJSON}
}

// mark makes c a column whose text eventjson may leave out.
func mark(c physicalColumn) physicalColumn { c.marked = true; return c }

var physicalColumns = func() []physicalColumn {
	ui := func(p ...string) []string { return append([]string{"userIdentity"}, p...) }
	sc := func(p ...string) []string { return ui(append([]string{"sessionContext"}, p...)...) }
	si := func(p string) []string { return sc("sessionIssuer", p) }
	creation := sqlPath(sc("attributes", "creationDate"))
	return []physicalColumn{
		strCol("eventversion", "eventVersion"),
		strCol("ui_type", ui("type")...),
		mark(strCol("ui_principalid", ui("principalId")...)),
		mark(strCol("ui_arn", ui("arn")...)),
		strCol("ui_accountid", ui("accountId")...),
		mark(strCol("ui_accesskeyid", ui("accessKeyId")...)),
		strCol("ui_username", ui("userName")...),
		{name: "ui_sc_creationdate", typ: "TIMESTAMP", expr: "COALESCE(" + ts(creation) + ", try_strptime(" + s(creation) + ", '%Y%m%dT%H%M%SZ'))",
			path: sc("attributes", "creationDate"), kind: kindCreation},
		strCol("ui_sc_mfaauthenticated", sc("attributes", "mfaAuthenticated")...),
		strCol("ui_si_type", si("type")...),
		mark(strCol("ui_si_principalid", si("principalId")...)),
		mark(strCol("ui_si_arn", si("arn")...)),
		strCol("ui_si_accountid", si("accountId")...),
		strCol("ui_si_username", si("userName")...),
		strCol("ui_wif_federatedprovider", sc("webIdFederationData", "federatedProvider")...),
		jsonCol("ui_wif_attributes", sc("webIdFederationData", "attributes")...),
		strCol("ui_sc_sourceidentity", sc("sourceIdentity")...),
		strCol("ui_sc_ec2roledelivery", sc("ec2RoleDelivery")...),
		strCol("ui_sc_ec2issuedinvpc", sc("ec2IssuedInVPC")...),
		strCol("ui_obo_userid", ui("onBehalfOf", "userId")...),
		strCol("ui_obo_identitystorearn", ui("onBehalfOf", "identityStoreArn")...),
		strCol("ui_iso_sourcearn", ui("inScopeOf", "sourceArn")...),
		strCol("ui_iso_sourceaccount", ui("inScopeOf", "sourceAccount")...),
		strCol("ui_iso_issuertype", ui("inScopeOf", "issuerType")...),
		strCol("ui_iso_credentialsissuedto", ui("inScopeOf", "credentialsIssuedTo")...),
		strCol("ui_invokedby", ui("invokedBy")...),
		strCol("ui_identityprovider", ui("identityProvider")...),
		{name: "eventtime", typ: "TIMESTAMP", expr: s(`"eventTime"`), path: []string{"eventTime"}, kind: kindTime, marked: true},
		strCol("eventsource", "eventSource"),
		strCol("eventname", "eventName"),
		strCol("awsregion", "awsRegion"),
		mark(strCol("sourceipaddress", "sourceIPAddress")),
		mark(strCol("useragent", "userAgent")),
		strCol("errorcode", "errorCode"),
		mark(strCol("errormessage", "errorMessage")),
		mark(jsonCol("requestparameters", "requestParameters")),
		mark(jsonCol("responseelements", "responseElements")),
		mark(jsonCol("additionaleventdata", "additionalEventData")),
		mark(strCol("requestid", "requestID")),
		mark(strCol("eventid", "eventID")),
		{name: "readonly", typ: "BOOLEAN", expr: b(`"readOnly"`), path: []string{"readOnly"}, kind: kindBool},
		mark(jsonCol("resources", "resources")),
		strCol("eventtype", "eventType"),
		strCol("apiversion", "apiVersion"),
		{name: "managementevent", typ: "BOOLEAN", expr: b(`"managementEvent"`), path: []string{"managementEvent"}, kind: kindBool},
		strCol("recipientaccountid", "recipientAccountId"),
		mark(strCol("sharedeventid", "sharedEventID")),
		strCol("annotation", "annotation"),
		strCol("vpcendpointid", "vpcEndpointId"),
		strCol("vpcendpointaccountid", "vpcEndpointAccountId"),
		mark(jsonCol("serviceeventdetails", "serviceEventDetails")),
		jsonCol("addendum", "addendum"),
		jsonCol("edgedevicedetails", "edgeDeviceDetails"),
		jsonCol("insightdetails", "insightDetails"),
		strCol("eventcategory", "eventCategory"),
		strCol("tls_tlsversion", "tlsDetails", "tlsVersion"),
		strCol("tls_ciphersuite", "tlsDetails", "cipherSuite"),
		strCol("tls_clientprovidedhostheader", "tlsDetails", "clientProvidedHostHeader"),
		strCol("sessioncredentialfromconsole", "sessionCredentialFromConsole"),
		strCol("md_ingestiontime", "metadata", "ingestionTime"),
		strCol("md_channelarn", "metadata", "channelARN"),
		mark(jsonCol("eventdata", "eventData")),
		{name: "eventjson", typ: "VARCHAR", expr: "raw", kind: kindRecord},
		// Added by layout 3, hence last: see uuidTwin.
		{name: "eventid_u", typ: "UUID", expr: "NULL", kind: kindUUID},
		{name: "requestid_u", typ: "UUID", expr: "NULL", kind: kindUUID},
	}
}()

// uuidTwin maps the index of a string column that often holds UUIDs
// (eventID, requestID) to the index of its UUID column: the extractor
// stores a value written as a lower-case UUID there, in 16 bytes instead
// of the 22 or so DuckDB's string compression leaves of its 36
// characters, and the string column holds NULL. The view reads the pair
// as one string (columnExpr). Values DuckDB converts (insertPhysical) stay
// in the string column. The UUID columns came with layout 3: Open adds
// them to the data table of a store created earlier (upgrade).
var uuidTwin = map[int]int{
	columnIndex("eventid"):   columnIndex("eventid_u"),
	columnIndex("requestid"): columnIndex("requestid_u"),
}

// eventJSONColumn is the index of eventjson in physicalColumns.
var eventJSONColumn = columnIndex("eventjson")

func columnIndex(name string) int {
	for i, c := range physicalColumns {
		if c.name == name {
			return i
		}
	}
	panic("lake: no column " + name)
}

// columnExpr is the expression the view reads column ci of the data table
// with: its name, or for a column with a UUID twin, the two as one string.
func columnExpr(ci int) string {
	c := physicalColumns[ci]
	if t, ok := uuidTwin[ci]; ok {
		return "COALESCE(" + c.name + ", CAST(" + physicalColumns[t].name + " AS VARCHAR))"
	}
	return c.name
}

// physicalShape is recordShape with every value kept as JSON text in the
// data table typed JSON: json_transform gives its text, which the view
// transforms with the type recordShape has for it, so a query sees what
// transforming the record with recordShape gives.
var physicalShape = func() string {
	r := strings.NewReplacer(
		`"MAP(VARCHAR, VARCHAR)"`, `"JSON"`,
		`"resources":[{"accountId":"VARCHAR","type":"VARCHAR","ARN":"VARCHAR","ARNPrefix":"VARCHAR"}]`, `"resources":"JSON"`,
	)
	shape := r.Replace(recordShape)
	// eventData is one JSON value.
	i := strings.Index(shape, `"eventData":{`)
	return shape[:i] + `"eventData":"JSON"` + "\n}"
}()

// resourcesShape and eventDataShape are the parts of recordShape the view
// applies to the resources and eventdata columns.
const (
	resourcesShape = `[{"accountId":"VARCHAR","type":"VARCHAR","ARN":"VARCHAR","ARNPrefix":"VARCHAR"}]`
	eventDataShape = `{"version":"VARCHAR","userIdentity":{"type":"VARCHAR","principalId":"VARCHAR","details":"MAP(VARCHAR, VARCHAR)"},
  "userAgent":"VARCHAR","eventSource":"VARCHAR","eventName":"VARCHAR","eventTime":"VARCHAR","UID":"VARCHAR",
  "requestParameters":"MAP(VARCHAR, VARCHAR)","responseElements":"MAP(VARCHAR, VARCHAR)","errorCode":"VARCHAR","errorMessage":"VARCHAR",
  "sourceIPAddress":"VARCHAR","recipientAccountId":"VARCHAR","additionalEventData":"MAP(VARCHAR, VARCHAR)"}`
)

// physicalDDL is the column list of the data table. With zstd (a database
// file in a storage format that has it), eventjson is compressed with ZSTD,
// which finds what consecutive records share: about a fifth of the size
// DICT_FSST, DuckDB's own choice, gives them.
func physicalDDL(zstd bool) string {
	cols := make([]string, len(physicalColumns))
	for i, c := range physicalColumns {
		cols[i] = c.name + " " + c.typ
		if c.name == "eventjson" && zstd {
			cols[i] += " USING COMPRESSION zstd"
		}
	}
	return strings.Join(cols, ", ")
}

// selectPhysical computes the data table's columns from raw records
// (column raw, transformed with physicalShape as p).
var selectPhysical = func() string {
	cols := make([]string, len(physicalColumns))
	for i, c := range physicalColumns {
		cols[i] = c.expr
	}
	return strings.Join(cols, ",\n\t")
}()

// insertPhysical is the statement that converts the records of table from
// (column raw) into rows of the data table of store id.
func insertPhysical(id, from string) string {
	return `INSERT INTO ` + dataTable(id) + ` SELECT ` + selectPhysical +
		` FROM (SELECT raw, json_transform(raw, '` + physicalShape + `') AS p FROM ` + from + `)`
}

// viewColumns rebuilds columnsDDL, in its order, from the data table (and
// ed, its eventdata column transformed).
var viewColumns = func() string {
	mp := func(col string) string { return "json_transform(" + col + ", " + mapType + ")" }
	cols := []string{
		"eventversion",
		st(
			f(`"type"`, "ui_type"), f("principalid", "ui_principalid"), f("arn", "ui_arn"),
			f("accountid", "ui_accountid"), f("accesskeyid", "ui_accesskeyid"), f("username", "ui_username"),
			f("sessioncontext", st(
				f("attributes", st(f("creationdate", "ui_sc_creationdate"), f("mfaauthenticated", "ui_sc_mfaauthenticated"))),
				f("sessionissuer", st(f(`"type"`, "ui_si_type"), f("principalid", "ui_si_principalid"), f("arn", "ui_si_arn"),
					f("accountid", "ui_si_accountid"), f("username", "ui_si_username"))),
				f("webidfederationdata", st(f("federatedprovider", "ui_wif_federatedprovider"), f("attributes", mp("ui_wif_attributes")))),
				f("sourceidentity", "ui_sc_sourceidentity"), f("ec2roledelivery", "ui_sc_ec2roledelivery"),
				f("ec2issuedinvpc", "ui_sc_ec2issuedinvpc"))),
			f("onbehalfof", st(f("userid", "ui_obo_userid"), f("identitystorearn", "ui_obo_identitystorearn"))),
			f("inscopeof", st(f("sourcearn", "ui_iso_sourcearn"), f("sourceaccount", "ui_iso_sourceaccount"),
				f("issuertype", "ui_iso_issuertype"), f("credentialsissuedto", "ui_iso_credentialsissuedto"))),
			f("invokedby", "ui_invokedby"), f("identityprovider", "ui_identityprovider"),
		) + " AS useridentity",
		"eventtime", "eventsource", "eventname", "awsregion", "sourceipaddress", "useragent", "errorcode", "errormessage",
		mp("requestparameters") + " AS requestparameters",
		mp("responseelements") + " AS responseelements",
		mp("additionaleventdata") + " AS additionaleventdata",
		columnExpr(columnIndex("requestid")) + " AS requestid",
		columnExpr(columnIndex("eventid")) + " AS eventid",
		"readonly",
		`list_transform(json_transform(resources, '` + resourcesShape + `'), r -> struct_pack(accountid := r."accountId", "type" := r."type", arn := r."ARN", arnprefix := r."ARNPrefix")) AS resources`,
		"eventtype", "apiversion", "managementevent", "recipientaccountid", "sharedeventid", "annotation",
		"vpcendpointid", "vpcendpointaccountid",
		mp("serviceeventdetails") + " AS serviceeventdetails",
		mp("addendum") + " AS addendum",
		mp("edgedevicedetails") + " AS edgedevicedetails",
		mp("insightdetails") + " AS insightdetails",
		"eventcategory",
		st(f("tlsversion", "tls_tlsversion"), f("ciphersuite", "tls_ciphersuite"), f("clientprovidedhostheader", "tls_clientprovidedhostheader")) + " AS tlsdetails",
		"sessioncredentialfromconsole",
		st(f("ingestiontime", "md_ingestiontime"), f("channelarn", "md_channelarn")) + " AS metadata",
		st(
			f(`"version"`, `ed."version"`),
			f("useridentity", st(f(`"type"`, `ed."userIdentity"."type"`), f("principalid", `ed."userIdentity"."principalId"`),
				f("details", `ed."userIdentity"."details"`))),
			f("useragent", `ed."userAgent"`), f("eventsource", `ed."eventSource"`), f("eventname", `ed."eventName"`),
			f("eventtime", `ed."eventTime"`), f("uid", `ed."UID"`),
			f("requestparameters", `ed."requestParameters"`), f("responseelements", `ed."responseElements"`),
			f("errorcode", `ed."errorCode"`), f("errormessage", `ed."errorMessage"`),
			f("sourceipaddress", `ed."sourceIPAddress"`), f("recipientaccountid", `ed."recipientAccountId"`),
			f("additionaleventdata", `ed."additionalEventData"`),
		) + " AS eventdata",
		"eventjson",
		"sha256(eventjson) AS eventjsonchecksum",
	}
	return strings.Join(cols, ",\n\t")
}()

// markerByte follows byte 0x01 in a stored eventjson where the text of the
// k-th marked column was left out: 'A'+k. Neither byte can appear in JSON
// text (control characters are escaped inside strings), so a marker is
// never confused with the record's own bytes, and a record stored whole
// (layout 2, or one the extractor leaves to DuckDB) has none.
func markerByte(k int) byte { return byte('A' + k) }

// markedColumns are the indexes in physicalColumns of the marked columns,
// in marker order.
var markedColumns = func() []int {
	var m []int
	for i, c := range physicalColumns {
		if c.marked {
			m = append(m, i)
		}
	}
	return m
}()

// eventTimeLayout is the only eventTime text the extractor leaves out of
// eventjson: the one AWS writes, which strftime rebuilds exactly.
const eventTimeLayout = "2006-01-02T15:04:05Z"

// rebuildEventJSON is the SQL expression that gives the record back from
// the stored eventjson: each marker is replaced with its column's JSON
// text. The extractor leaves a field out only when that text is exactly
// the field's bytes in the record (extract.go checks it), so the result
// is the record byte for byte.
var rebuildEventJSON = func() string {
	expr := "eventjson"
	for k, i := range markedColumns {
		c := physicalColumns[i]
		var text string
		switch c.kind {
		case kindString:
			text = `'"' || ` + columnExpr(i) + ` || '"'`
		case kindJSON:
			text = c.name
		case kindTime:
			text = `'"' || strftime(` + c.name + `, '%Y-%m-%dT%H:%M:%SZ') || '"'`
		default:
			panic("lake: column " + c.name + " cannot be marked")
		}
		expr = "replace(" + expr + ", chr(1) || '" + string(markerByte(k)) + "', coalesce(" + text + ", ''))"
	}
	return "CASE WHEN contains(eventjson, chr(1)) THEN " + expr + " ELSE eventjson END"
}()

// viewFrom is the relation the views of store id select from: the data
// table with its records rebuilt (eventjson) and its eventdata column
// transformed (ed).
func viewFrom(id string) string {
	return `(SELECT * REPLACE (` + rebuildEventJSON + ` AS eventjson), json_transform(eventdata, '` + eventDataShape + `') AS ed FROM ` + dataTable(id) + `)`
}

// createView is the statement that (re)creates the view queries read for
// store id.
func createView(id string) string {
	return `CREATE OR REPLACE VIEW ` + storeTable(id) + ` AS SELECT ` + viewColumns + ` FROM ` + viewFrom(id)
}
