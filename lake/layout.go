package lake

import "strings"

// The physical layout of a store (layout 2). Writing rows into the wide
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

// dataTable is the DuckDB table that holds a store's events; storeTable(id)
// is the view over it that queries read.
func dataTable(id string) string { return `"edsd_` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// physicalColumn is one column of the data table: its name, type, and the
// expression that computes it from a record (column raw, transformed with
// physicalShape as p).
type physicalColumn struct{ name, typ, expr string }

// mapType is the structure json_transform rebuilds map columns with.
const mapType = `'"MAP(VARCHAR, VARCHAR)"'`

func jsonCol(name, path string) physicalColumn {
	return physicalColumn{name, "VARCHAR", s(path)}
}

func strCol(name, path string) physicalColumn {
	return physicalColumn{name, "VARCHAR", s(path)}
}

var physicalColumns = func() []physicalColumn {
	ui := `"userIdentity"`
	sc := ui + `."sessionContext"`
	si := sc + `."sessionIssuer"`
	q := func(n string) string { return `"` + n + `"` }
	return []physicalColumn{
		strCol("eventversion", q("eventVersion")),
		strCol("ui_type", ui+`."type"`),
		strCol("ui_principalid", ui+`."principalId"`),
		strCol("ui_arn", ui+`."arn"`),
		strCol("ui_accountid", ui+`."accountId"`),
		strCol("ui_accesskeyid", ui+`."accessKeyId"`),
		strCol("ui_username", ui+`."userName"`),
		{"ui_sc_creationdate", "TIMESTAMP", "COALESCE(" + ts(sc+`."attributes"."creationDate"`) + ", try_strptime(" + s(sc+`."attributes"."creationDate"`) + ", '%Y%m%dT%H%M%SZ'))"},
		strCol("ui_sc_mfaauthenticated", sc+`."attributes"."mfaAuthenticated"`),
		strCol("ui_si_type", si+`."type"`),
		strCol("ui_si_principalid", si+`."principalId"`),
		strCol("ui_si_arn", si+`."arn"`),
		strCol("ui_si_accountid", si+`."accountId"`),
		strCol("ui_si_username", si+`."userName"`),
		strCol("ui_wif_federatedprovider", sc+`."webIdFederationData"."federatedProvider"`),
		jsonCol("ui_wif_attributes", sc+`."webIdFederationData"."attributes"`),
		strCol("ui_sc_sourceidentity", sc+`."sourceIdentity"`),
		strCol("ui_sc_ec2roledelivery", sc+`."ec2RoleDelivery"`),
		strCol("ui_sc_ec2issuedinvpc", sc+`."ec2IssuedInVPC"`),
		strCol("ui_obo_userid", ui+`."onBehalfOf"."userId"`),
		strCol("ui_obo_identitystorearn", ui+`."onBehalfOf"."identityStoreArn"`),
		strCol("ui_iso_sourcearn", ui+`."inScopeOf"."sourceArn"`),
		strCol("ui_iso_sourceaccount", ui+`."inScopeOf"."sourceAccount"`),
		strCol("ui_iso_issuertype", ui+`."inScopeOf"."issuerType"`),
		strCol("ui_iso_credentialsissuedto", ui+`."inScopeOf"."credentialsIssuedTo"`),
		strCol("ui_invokedby", ui+`."invokedBy"`),
		strCol("ui_identityprovider", ui+`."identityProvider"`),
		{"eventtime", "TIMESTAMP", s(q("eventTime"))},
		strCol("eventsource", q("eventSource")),
		strCol("eventname", q("eventName")),
		strCol("awsregion", q("awsRegion")),
		strCol("sourceipaddress", q("sourceIPAddress")),
		strCol("useragent", q("userAgent")),
		strCol("errorcode", q("errorCode")),
		strCol("errormessage", q("errorMessage")),
		jsonCol("requestparameters", q("requestParameters")),
		jsonCol("responseelements", q("responseElements")),
		jsonCol("additionaleventdata", q("additionalEventData")),
		strCol("requestid", q("requestID")),
		strCol("eventid", q("eventID")),
		{"readonly", "BOOLEAN", b(q("readOnly"))},
		jsonCol("resources", q("resources")),
		strCol("eventtype", q("eventType")),
		strCol("apiversion", q("apiVersion")),
		{"managementevent", "BOOLEAN", b(q("managementEvent"))},
		strCol("recipientaccountid", q("recipientAccountId")),
		strCol("sharedeventid", q("sharedEventID")),
		strCol("annotation", q("annotation")),
		strCol("vpcendpointid", q("vpcEndpointId")),
		strCol("vpcendpointaccountid", q("vpcEndpointAccountId")),
		jsonCol("serviceeventdetails", q("serviceEventDetails")),
		jsonCol("addendum", q("addendum")),
		jsonCol("edgedevicedetails", q("edgeDeviceDetails")),
		jsonCol("insightdetails", q("insightDetails")),
		strCol("eventcategory", q("eventCategory")),
		strCol("tls_tlsversion", `"tlsDetails"."tlsVersion"`),
		strCol("tls_ciphersuite", `"tlsDetails"."cipherSuite"`),
		strCol("tls_clientprovidedhostheader", `"tlsDetails"."clientProvidedHostHeader"`),
		strCol("sessioncredentialfromconsole", q("sessionCredentialFromConsole")),
		strCol("md_ingestiontime", `"metadata"."ingestionTime"`),
		strCol("md_channelarn", `"metadata"."channelARN"`),
		jsonCol("eventdata", q("eventData")),
		{"eventjson", "VARCHAR", "raw"},
	}
}()

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
		"requestid", "eventid", "readonly",
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

// createView is the statement that (re)creates the view queries read for
// store id.
func createView(id string) string {
	return `CREATE OR REPLACE VIEW ` + storeTable(id) + ` AS SELECT ` + viewColumns +
		` FROM (SELECT *, json_transform(eventdata, '` + eventDataShape + `') AS ed FROM ` + dataTable(id) + `)`
}
