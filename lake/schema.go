package lake

import "strings"

// columnsDDL is the table of one event data store as queries see it (the
// view of layout.go; layout 1 stored it as is): CloudTrail Lake's event
// columns (reference/lake.md section 2), lower case as Lake shows them, plus
// the columns of ActivityAuditLog events from channels (metadata,
// eventdata). One schema serves every store so that a store may hold both
// kinds, as a store selecting several categories does.
//
// Where the reference is silent or unconfirmed:
//   - addendum is map<string,string> as for CloudTrail events; for
//     ActivityAuditLog events AWS documents a struct, whose fields are the
//     same keys in the map (element_at(addendum, 'reason')).
//   - eventjsonchecksum is the hex SHA-256 of eventjson (AWS does not say
//     which checksum it uses).
//   - eventdata.eventtime is kept as written (a string), as PutAuditEvents
//     callers send it.
const columnsDDL = `
	eventversion VARCHAR,
	useridentity STRUCT(
		"type" VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR,
		accesskeyid VARCHAR, username VARCHAR,
		sessioncontext STRUCT(
			attributes STRUCT(creationdate TIMESTAMP, mfaauthenticated VARCHAR),
			sessionissuer STRUCT("type" VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, username VARCHAR),
			webidfederationdata STRUCT(federatedprovider VARCHAR, attributes MAP(VARCHAR, VARCHAR)),
			sourceidentity VARCHAR, ec2roledelivery VARCHAR, ec2issuedinvpc VARCHAR),
		onbehalfof STRUCT(userid VARCHAR, identitystorearn VARCHAR),
		inscopeof STRUCT(sourcearn VARCHAR, sourceaccount VARCHAR, issuertype VARCHAR, credentialsissuedto VARCHAR),
		invokedby VARCHAR, identityprovider VARCHAR),
	eventtime TIMESTAMP,
	eventsource VARCHAR,
	eventname VARCHAR,
	awsregion VARCHAR,
	sourceipaddress VARCHAR,
	useragent VARCHAR,
	errorcode VARCHAR,
	errormessage VARCHAR,
	requestparameters MAP(VARCHAR, VARCHAR),
	responseelements MAP(VARCHAR, VARCHAR),
	additionaleventdata MAP(VARCHAR, VARCHAR),
	requestid VARCHAR,
	eventid VARCHAR,
	readonly BOOLEAN,
	resources STRUCT(accountid VARCHAR, "type" VARCHAR, arn VARCHAR, arnprefix VARCHAR)[],
	eventtype VARCHAR,
	apiversion VARCHAR,
	managementevent BOOLEAN,
	recipientaccountid VARCHAR,
	sharedeventid VARCHAR,
	annotation VARCHAR,
	vpcendpointid VARCHAR,
	vpcendpointaccountid VARCHAR,
	serviceeventdetails MAP(VARCHAR, VARCHAR),
	addendum MAP(VARCHAR, VARCHAR),
	edgedevicedetails MAP(VARCHAR, VARCHAR),
	insightdetails MAP(VARCHAR, VARCHAR),
	eventcategory VARCHAR,
	tlsdetails STRUCT(tlsversion VARCHAR, ciphersuite VARCHAR, clientprovidedhostheader VARCHAR),
	sessioncredentialfromconsole VARCHAR,
	metadata STRUCT(ingestiontime VARCHAR, channelarn VARCHAR),
	eventdata STRUCT(
		"version" VARCHAR,
		useridentity STRUCT("type" VARCHAR, principalid VARCHAR, details MAP(VARCHAR, VARCHAR)),
		useragent VARCHAR, eventsource VARCHAR, eventname VARCHAR, eventtime VARCHAR, uid VARCHAR,
		requestparameters MAP(VARCHAR, VARCHAR), responseelements MAP(VARCHAR, VARCHAR),
		errorcode VARCHAR, errormessage VARCHAR, sourceipaddress VARCHAR,
		recipientaccountid VARCHAR, additionaleventdata MAP(VARCHAR, VARCHAR)),
	eventjson VARCHAR,
	eventjsonchecksum VARCHAR
`

// recordShape is the JSON structure DuckDB's json_transform reads a record
// with, in one parse: strings as VARCHAR (booleans and numbers too, as
// their text), objects destined for map<string,string> columns as JSON.
const recordShape = `{
 "eventVersion":"VARCHAR",
 "userIdentity":{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR",
  "accessKeyId":"VARCHAR","userName":"VARCHAR","invokedBy":"VARCHAR","identityProvider":"VARCHAR",
  "sessionContext":{"attributes":{"creationDate":"VARCHAR","mfaAuthenticated":"VARCHAR"},
   "sessionIssuer":{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR","userName":"VARCHAR"},
   "webIdFederationData":{"federatedProvider":"VARCHAR","attributes":"MAP(VARCHAR, VARCHAR)"},
   "sourceIdentity":"VARCHAR","ec2RoleDelivery":"VARCHAR","ec2IssuedInVPC":"VARCHAR"},
  "onBehalfOf":{"userId":"VARCHAR","identityStoreArn":"VARCHAR"},
  "inScopeOf":{"sourceArn":"VARCHAR","sourceAccount":"VARCHAR","issuerType":"VARCHAR","credentialsIssuedTo":"VARCHAR"}},
 "eventTime":"TIMESTAMP","eventSource":"VARCHAR","eventName":"VARCHAR","awsRegion":"VARCHAR",
 "sourceIPAddress":"VARCHAR","userAgent":"VARCHAR","errorCode":"VARCHAR","errorMessage":"VARCHAR",
 "requestParameters":"MAP(VARCHAR, VARCHAR)","responseElements":"MAP(VARCHAR, VARCHAR)","additionalEventData":"MAP(VARCHAR, VARCHAR)",
 "requestID":"VARCHAR","eventID":"VARCHAR","readOnly":"VARCHAR",
 "resources":[{"accountId":"VARCHAR","type":"VARCHAR","ARN":"VARCHAR","ARNPrefix":"VARCHAR"}],
 "eventType":"VARCHAR","apiVersion":"VARCHAR","managementEvent":"VARCHAR","recipientAccountId":"VARCHAR",
 "sharedEventID":"VARCHAR","annotation":"VARCHAR","vpcEndpointId":"VARCHAR","vpcEndpointAccountId":"VARCHAR",
 "serviceEventDetails":"MAP(VARCHAR, VARCHAR)","addendum":"MAP(VARCHAR, VARCHAR)","edgeDeviceDetails":"MAP(VARCHAR, VARCHAR)","insightDetails":"MAP(VARCHAR, VARCHAR)",
 "eventCategory":"VARCHAR",
 "tlsDetails":{"tlsVersion":"VARCHAR","cipherSuite":"VARCHAR","clientProvidedHostHeader":"VARCHAR"},
 "sessionCredentialFromConsole":"VARCHAR",
 "metadata":{"ingestionTime":"VARCHAR","channelARN":"VARCHAR"},
 "eventData":{"version":"VARCHAR","userIdentity":{"type":"VARCHAR","principalId":"VARCHAR","details":"MAP(VARCHAR, VARCHAR)"},
  "userAgent":"VARCHAR","eventSource":"VARCHAR","eventName":"VARCHAR","eventTime":"VARCHAR","UID":"VARCHAR",
  "requestParameters":"MAP(VARCHAR, VARCHAR)","responseElements":"MAP(VARCHAR, VARCHAR)","errorCode":"VARCHAR","errorMessage":"VARCHAR",
  "sourceIPAddress":"VARCHAR","recipientAccountId":"VARCHAR","additionalEventData":"MAP(VARCHAR, VARCHAR)"}
}`

// s reads a field of the transformed record p.
func s(path string) string { return "p." + path }

// ts parses a record time; unparseable times become NULL.
func ts(path string) string {
	return "TRY_CAST(TRY_CAST(" + s(path) + " AS TIMESTAMPTZ) AS TIMESTAMP)"
}

func b(path string) string { return "TRY_CAST(" + s(path) + " AS BOOLEAN)" }

func st(fields ...string) string {
	return "struct_pack(" + strings.Join(fields, ", ") + ")"
}

func f(name, expr string) string { return name + " := " + expr }

// macros implement Trino functions DuckDB lacks or names differently. They
// live in the database and are (re)created at every Open.
var macros = []string{
	`CREATE OR REPLACE MACRO ot_element_at(c, k) AS (c)[k]`,
	`CREATE OR REPLACE MACRO ot_cardinality(x) AS CASE json_type(to_json(x)) WHEN 'ARRAY' THEN json_array_length(to_json(x)) WHEN 'OBJECT' THEN len(json_keys(to_json(x))) END`,
	`CREATE OR REPLACE MACRO ot_contains(c, v) AS list_contains(c, v)`,
	`CREATE OR REPLACE MACRO ot_regexp_replace(s, p, r := '') AS regexp_replace(s, p, regexp_replace(r, '\$(\d)', '\\\1', 'g'), 'g')`,
	`CREATE OR REPLACE MACRO ot_date_trunc(u, t) AS CAST(date_trunc(u, t) AS TIMESTAMP)`,
	`CREATE OR REPLACE MACRO ot_date(t) AS CAST(t AS DATE)`,
	`CREATE OR REPLACE MACRO ot_date_add(u, n, t) AS t + CASE lower(u)
		WHEN 'millisecond' THEN to_milliseconds(CAST(n AS BIGINT))
		WHEN 'second' THEN to_seconds(CAST(n AS BIGINT))
		WHEN 'minute' THEN to_minutes(CAST(n AS BIGINT))
		WHEN 'hour' THEN to_hours(CAST(n AS BIGINT))
		WHEN 'day' THEN to_days(CAST(n AS INTEGER))
		WHEN 'week' THEN to_weeks(CAST(n AS INTEGER))
		WHEN 'month' THEN to_months(CAST(n AS INTEGER))
		WHEN 'quarter' THEN to_months(CAST(n AS INTEGER) * 3)
		WHEN 'year' THEN to_years(CAST(n AS INTEGER)) END`,
	`CREATE OR REPLACE MACRO ot_from_iso8601_timestamp(s) AS CAST(CAST(s AS TIMESTAMPTZ) AS TIMESTAMP)`,
	`CREATE OR REPLACE MACRO ot_from_iso8601_date(s) AS CAST(s AS DATE)`,
	`CREATE OR REPLACE MACRO ot_to_iso8601(t) AS strftime(CAST(t AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%gZ')`,
	`CREATE OR REPLACE MACRO ot_from_unixtime(n) AS CAST(to_timestamp(CAST(n AS DOUBLE)) AS TIMESTAMP)`,
	// The translator rewrites the MySQL-style pattern (a literal) of
	// Trino's date_format/date_parse into strftime's.
	`CREATE OR REPLACE MACRO ot_date_format(t, f) AS strftime(CAST(t AS TIMESTAMP), f)`,
	`CREATE OR REPLACE MACRO ot_date_parse(s, f) AS strptime(s, f)`,
	`CREATE OR REPLACE MACRO ot_slice(x, s, n) AS list_slice(x, s, s + n - 1)`,
	`CREATE OR REPLACE MACRO ot_array_remove(x, v) AS list_filter(x, e -> e IS DISTINCT FROM v)`,
	`CREATE OR REPLACE MACRO ot_json_extract_scalar(j, p) AS CASE WHEN json_type(CAST(j AS JSON), p) NOT IN ('OBJECT', 'ARRAY') THEN json_extract_string(CAST(j AS JSON), p) END`,
	`CREATE OR REPLACE MACRO ot_json_format(j) AS CAST(CAST(j AS JSON) AS VARCHAR)`,
	`CREATE OR REPLACE MACRO ot_json_array_contains(j, v) AS list_contains(list_transform(TRY_CAST(CAST(j AS JSON) AS JSON[]), lambda e: json_extract_string(e, '$')), CAST(v AS VARCHAR))`,
	`CREATE OR REPLACE MACRO ot_json_array_get(j, i) AS json_extract(CAST(j AS JSON), '$[' || CAST(i AS VARCHAR) || ']')`,
	`CREATE OR REPLACE MACRO ot_json_size(j, p) AS CASE json_type(CAST(j AS JSON), p) WHEN 'ARRAY' THEN json_array_length(CAST(j AS JSON), p) WHEN 'OBJECT' THEN len(json_keys(CAST(j AS JSON), p)) ELSE 0 END`,
	`CREATE OR REPLACE MACRO ot_is_json_scalar(j) AS json_type(CAST(j AS JSON)) NOT IN ('OBJECT', 'ARRAY')`,
}
