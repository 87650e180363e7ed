package lake_test

import (
	"context"
	"strings"
	"testing"

	"github.com/opentrail/opentrail/lake"
)

// sampleQueries are CloudTrail Lake queries in the style of AWS's sample
// catalogue and the user guide's examples, written as a Lake user writes
// them ($EDS_ID is the event data store). Every one must run unchanged.
var sampleQueries = []string{
	`SELECT eventID, eventName, eventSource, eventTime FROM $EDS_ID WHERE eventName = 'PutObject'`,
	`SELECT useridentity.arn, eventName, eventTime FROM $EDS_ID WHERE eventTime > '2023-01-22 00:00:00' AND eventTime < '2025-01-01 00:00:00' ORDER BY eventTime DESC LIMIT 10`,
	`SELECT eventSource, eventName, COUNT(*) AS numOfCalls FROM $EDS_ID WHERE eventTime > '2022-01-01 00:00:00' GROUP BY eventSource, eventName ORDER BY COUNT(*) DESC LIMIT 20`,
	`SELECT userIdentity.principalid, userIdentity.arn, COUNT(*) AS count FROM $EDS_ID WHERE errorCode IN ('AccessDenied', 'Client.UnauthorizedOperation', 'UnauthorizedOperation') GROUP BY userIdentity.principalid, userIdentity.arn ORDER BY count DESC`,
	`SELECT eventTime, useridentity.arn, sourceIPAddress, element_at(additionalEventData, 'MFAUsed') AS mfa FROM $EDS_ID WHERE eventName = 'ConsoleLogin' AND element_at(responseElements, 'ConsoleLogin') = 'Failure'`,
	`SELECT eventTime, sourceIPAddress, userAgent FROM $EDS_ID WHERE userIdentity.type = 'Root' AND eventType = 'AwsConsoleSignIn'`,
	`SELECT eventName, useridentity.arn, eventTime FROM $EDS_ID WHERE eventSource = 'cloudtrail.amazonaws.com' AND eventName IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors')`,
	`SELECT eventName, element_at(requestParameters, 'groupId') AS groupId, eventTime FROM $EDS_ID WHERE eventName IN ('AuthorizeSecurityGroupIngress', 'RevokeSecurityGroupIngress', 'CreateSecurityGroup', 'DeleteSecurityGroup')`,
	`SELECT eventSource, errorCode, count(*) AS errors FROM $EDS_ID WHERE errorCode IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC`,
	`SELECT date_trunc('hour', eventTime) AS hour, count(*) FROM $EDS_ID GROUP BY 1 ORDER BY 1`,
	`SELECT date_trunc('day', eventTime) AS day, approx_distinct(userIdentity.arn) AS users FROM $EDS_ID GROUP BY 1`,
	`SELECT awsRegion, count_if(errorCode IS NOT NULL) AS failed, count(*) AS total FROM $EDS_ID GROUP BY awsRegion HAVING count(*) > 1`,
	`SELECT eventID FROM $EDS_ID WHERE regexp_like(userAgent, '^aws-cli/') AND cardinality(resources) > 0`,
	`SELECT eventName, cardinality(requestParameters) FROM $EDS_ID WHERE requestParameters IS NOT NULL LIMIT 5`,
	`SELECT json_extract_scalar(eventjson, '$.userIdentity.accessKeyId') AS key, count(*) FROM $EDS_ID GROUP BY 1`,
	`SELECT eventName FROM $EDS_ID WHERE eventTime > from_iso8601_timestamp('2023-07-10T12:00:00Z') AND eventTime <= date_add('day', 1, from_iso8601_timestamp('2023-07-10T12:00:00Z'))`,
	`SELECT useridentity.arn, date_diff('minute', min(eventTime), max(eventTime)) AS activeMinutes FROM $EDS_ID GROUP BY 1`,
	`SELECT eventName FROM $EDS_ID WHERE contains(split(userAgent, ' '), 'exec-env/AWS_ECS_EC2')`,
	`SELECT url_decode(element_at(requestParameters, 'policyDocument')) FROM $EDS_ID WHERE eventName = 'PutRolePolicy'`,
	`SELECT try(CAST(element_at(requestParameters, 'maxResults') AS INTEGER)) FROM $EDS_ID`,
	`SELECT r.arn, r.type, count(*) FROM $EDS_ID CROSS JOIN UNNEST(resources) AS t(r) GROUP BY 1, 2`,
	`SELECT eventName, sessionCredentialFromConsole, tlsDetails.tlsVersion, userIdentity.sessionContext.sessionIssuer.userName, userIdentity.sessionContext.attributes.mfaAuthenticated FROM $EDS_ID WHERE userIdentity.type = 'AssumedRole'`,
	`SELECT a.eventName, b.eventName FROM $EDS_ID a JOIN $EDS_ID b ON a.eventID = b.eventID AND a.eventTime = b.eventTime LIMIT 3`,
	`SELECT eventName FROM $EDS_ID WHERE readOnly = false UNION SELECT eventName FROM $EDS_ID WHERE managementEvent = true`,
	`WITH failures AS (SELECT useridentity.arn AS who, count(*) AS n FROM $EDS_ID WHERE errorCode IS NOT NULL GROUP BY 1) SELECT who, n FROM failures WHERE n > 1 ORDER BY n DESC`,
	`SELECT eventTime FROM $EDS_ID WHERE eventTime > current_timestamp - interval '3650' day`,
	`SELECT date_format(eventTime, '%Y-%m-%d %H:%i') AS minute, count(*) FROM $EDS_ID GROUP BY 1`,
	`SELECT year(eventTime), month(eventTime), day_of_week(eventTime), count(*) FROM $EDS_ID GROUP BY 1, 2, 3`,
	`SELECT lower(eventName), upper(awsRegion), length(eventID), substr(eventID, 1, 8), coalesce(errorCode, 'none'), if(readOnly, 'read', 'write') FROM $EDS_ID LIMIT 5`,
	`SELECT eventName, element_at(map_keys(requestParameters), 1) FROM $EDS_ID WHERE eventName IS NOT NULL LIMIT 5`,
	`SELECT CASE WHEN errorCode IS NULL THEN 'ok' ELSE 'failed' END AS outcome, count(*) FROM $EDS_ID GROUP BY 1`,
	`SELECT eventName, eventTime FROM $EDS_ID WHERE eventTime BETWEEN '2023-07-10 00:00:00' AND '2023-07-11 00:00:00' AND eventName LIKE 'Describe%' ORDER BY eventTime ASC NULLS LAST`,
	`SELECT max_by(eventName, eventTime), arbitrary(awsRegion), approx_percentile(length(eventjson), 0.5) FROM $EDS_ID`,
	`SELECT eventName, row_number() OVER (PARTITION BY eventSource ORDER BY eventTime) FROM $EDS_ID LIMIT 5`,
	`SELECT EXTRACT(YEAR FROM eventTime) AS y, count(*) FROM $EDS_ID GROUP BY 1`,
	`SELECT eventName FROM $EDS_ID WHERE errorCode IS DISTINCT FROM 'AccessDenied' LIMIT 1`,
	`SELECT metadata.channelarn, eventdata.eventname, eventdata.useridentity.principalid, element_at(eventdata.requestparameters, 'x') FROM $EDS_ID WHERE eventCategory = 'ActivityAuditLog'`,
	`SELECT json_extract(eventjson, '$.resources'), json_array_length(json_extract(eventjson, '$.resources')) FROM $EDS_ID WHERE json_extract(eventjson, '$.resources') IS NOT NULL LIMIT 3`,
	`SELECT regexp_extract(useridentity.arn, ':assumed-role/([^/]+)/', 1) AS role, count(*) FROM $EDS_ID GROUP BY 1`,
	`SELECT to_iso8601(eventTime), to_unixtime(eventTime), from_unixtime(1700000000) FROM $EDS_ID LIMIT 1`,
}

func TestSampleQueriesRun(t *testing.T) {
	e, _ := mustLoad(t)
	for _, q := range sampleQueries {
		for _, ref := range []string{storeID, storeARN} {
			stmt := strings.ReplaceAll(q, "$EDS_ID", ref)
			if err := e.Check(context.Background(), stmt, resolver(storeID)); err != nil {
				t.Errorf("Check(%q): %v", stmt, err)
				continue
			}
			res, err := e.Query(context.Background(), stmt, resolver(storeID), lake.QueryOptions{ID: queryID()})
			if err != nil || res.Status != lake.StatusFinished {
				t.Errorf("Query(%q) = %+v, %v", stmt, res, err)
			}
		}
	}
}
