// Package samples is opentrail's catalogue of CloudTrail Lake sample
// queries, served by SearchSampleQueries: common security and operations
// questions written in CloudTrail Lake SQL. As in AWS's catalogue, each
// statement names its event data store $EDS_ID; replace it with a store's
// ID or ARN before running it.
package samples

// Query is one sample query.
type Query struct {
	Name        string
	Description string
	SQL         string
}

// StorePlaceholder is what a sample's SQL writes in place of the event
// data store.
const StorePlaceholder = "$EDS_ID"

// All returns the catalogue, in its fixed order (a copy: callers may keep
// or change it).
func All() []Query {
	return append([]Query(nil), catalogue...)
}

var catalogue = []Query{
	{
		Name:        "Failed console sign-in attempts",
		Description: "Lists failed AWS Management Console sign-in attempts with the user, source IP address, user agent and error message, newest first.",
		SQL:         `SELECT eventTime, userIdentity.arn, sourceIPAddress, userAgent, errorMessage FROM $EDS_ID WHERE eventName = 'ConsoleLogin' AND (element_at(responseElements, 'ConsoleLogin') = 'Failure' OR errorMessage IS NOT NULL) ORDER BY eventTime DESC`,
	},
	{
		Name:        "Console sign-ins without MFA",
		Description: "Finds console sign-ins (successful or not) where multi-factor authentication (MFA) was not used.",
		SQL:         `SELECT eventTime, userIdentity.type, userIdentity.arn, sourceIPAddress, element_at(responseElements, 'ConsoleLogin') AS outcome FROM $EDS_ID WHERE eventName = 'ConsoleLogin' AND element_at(additionalEventData, 'MFAUsed') = 'No' ORDER BY eventTime DESC`,
	},
	{
		Name:        "Console sign-ins by user",
		Description: "Counts console sign-ins per user and outcome (success or failure), to spot users signing in unusually often.",
		SQL:         `SELECT userIdentity.arn AS user, element_at(responseElements, 'ConsoleLogin') AS outcome, count(*) AS signIns FROM $EDS_ID WHERE eventName = 'ConsoleLogin' GROUP BY 1, 2 ORDER BY signIns DESC`,
	},
	{
		Name:        "Root user activity",
		Description: "Lists every action taken with the account's root user credentials: console sign-ins and API calls, with source IP address and user agent.",
		SQL:         `SELECT eventTime, eventSource, eventName, sourceIPAddress, userAgent, errorCode FROM $EDS_ID WHERE userIdentity.type = 'Root' ORDER BY eventTime DESC`,
	},
	{
		Name:        "Access denied errors by user",
		Description: "Counts access denied and unauthorized operation errors per user (principal ID and ARN), to find principals probing for permissions.",
		SQL:         `SELECT userIdentity.principalId, userIdentity.arn, count(*) AS denied FROM $EDS_ID WHERE errorCode IN ('AccessDenied', 'AccessDeniedException', 'Client.UnauthorizedOperation', 'UnauthorizedOperation') GROUP BY userIdentity.principalId, userIdentity.arn ORDER BY denied DESC`,
	},
	{
		Name:        "Access denied errors by API",
		Description: "Counts access denied and unauthorized operation errors per event source and API name: which permissions are missing most often.",
		SQL:         `SELECT eventSource, eventName, count(*) AS denied FROM $EDS_ID WHERE errorCode IN ('AccessDenied', 'AccessDeniedException', 'Client.UnauthorizedOperation', 'UnauthorizedOperation') GROUP BY eventSource, eventName ORDER BY denied DESC`,
	},
	{
		Name:        "Top APIs by event source",
		Description: "The most called APIs: the number of calls per event source (service) and event name.",
		SQL:         `SELECT eventSource, eventName, count(*) AS calls FROM $EDS_ID GROUP BY eventSource, eventName ORDER BY calls DESC LIMIT 50`,
	},
	{
		Name:        "Event counts by service",
		Description: "The number of events per event source (AWS service), with how many were read-only and how many failed.",
		SQL:         `SELECT eventSource, count(*) AS events, count_if(readOnly) AS readOnlyEvents, count_if(errorCode IS NOT NULL) AS failed FROM $EDS_ID GROUP BY eventSource ORDER BY events DESC`,
	},
	{
		Name:        "Changes to trails",
		Description: "Finds calls that stop, delete or reconfigure CloudTrail trails (StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors, PutInsightSelectors): possible attempts to disable auditing.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn, sourceIPAddress, element_at(requestParameters, 'name') AS trail, errorCode FROM $EDS_ID WHERE eventSource = 'cloudtrail.amazonaws.com' AND eventName IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'PutInsightSelectors') ORDER BY eventTime DESC`,
	},
	{
		Name:        "KMS key disabling and deletion",
		Description: "Finds AWS KMS keys being disabled, scheduled for deletion, or losing automatic rotation, and deleted aliases.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn, element_at(requestParameters, 'keyId') AS keyId, errorCode FROM $EDS_ID WHERE eventSource = 'kms.amazonaws.com' AND eventName IN ('DisableKey', 'ScheduleKeyDeletion', 'DisableKeyRotation', 'DeleteAlias', 'DeleteImportedKeyMaterial') ORDER BY eventTime DESC`,
	},
	{
		Name:        "Security group changes",
		Description: "Lists security group creations, deletions and ingress or egress rule changes in Amazon EC2, with the group ID and who made them.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn, element_at(requestParameters, 'groupId') AS groupId, sourceIPAddress, errorCode FROM $EDS_ID WHERE eventSource = 'ec2.amazonaws.com' AND eventName IN ('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress', 'CreateSecurityGroup', 'DeleteSecurityGroup', 'ModifySecurityGroupRules') ORDER BY eventTime DESC`,
	},
	{
		Name:        "IAM user changes",
		Description: "Lists IAM users being created or deleted, their console passwords (login profiles) created or changed, and users added to groups.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'userName') AS userName, errorCode FROM $EDS_ID WHERE eventSource = 'iam.amazonaws.com' AND eventName IN ('CreateUser', 'DeleteUser', 'CreateLoginProfile', 'UpdateLoginProfile', 'DeleteLoginProfile', 'AddUserToGroup', 'RemoveUserFromGroup', 'UpdateUser') ORDER BY eventTime DESC`,
	},
	{
		Name:        "IAM policy changes",
		Description: "Lists IAM policy changes: managed policies created, deleted or versioned, and policies attached to, detached from or put on users, groups and roles.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn AS actor, coalesce(element_at(requestParameters, 'policyArn'), element_at(requestParameters, 'policyName')) AS policy, coalesce(element_at(requestParameters, 'userName'), element_at(requestParameters, 'roleName'), element_at(requestParameters, 'groupName')) AS target, errorCode FROM $EDS_ID WHERE eventSource = 'iam.amazonaws.com' AND eventName IN ('CreatePolicy', 'DeletePolicy', 'CreatePolicyVersion', 'DeletePolicyVersion', 'SetDefaultPolicyVersion', 'AttachUserPolicy', 'DetachUserPolicy', 'AttachRolePolicy', 'DetachRolePolicy', 'AttachGroupPolicy', 'DetachGroupPolicy', 'PutUserPolicy', 'PutRolePolicy', 'PutGroupPolicy', 'DeleteUserPolicy', 'DeleteRolePolicy', 'DeleteGroupPolicy') ORDER BY eventTime DESC`,
	},
	{
		Name:        "IAM role changes",
		Description: "Lists IAM roles being created or deleted and trust policies (assume role policies) being changed.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'roleName') AS roleName, errorCode FROM $EDS_ID WHERE eventSource = 'iam.amazonaws.com' AND eventName IN ('CreateRole', 'DeleteRole', 'UpdateAssumeRolePolicy', 'UpdateRole', 'CreateServiceLinkedRole') ORDER BY eventTime DESC`,
	},
	{
		Name:        "IAM access key changes",
		Description: "Lists IAM access keys being created, activated, deactivated or deleted, with the user they belong to.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'userName') AS userName, element_at(requestParameters, 'accessKeyId') AS accessKeyId, errorCode FROM $EDS_ID WHERE eventSource = 'iam.amazonaws.com' AND eventName IN ('CreateAccessKey', 'UpdateAccessKey', 'DeleteAccessKey') ORDER BY eventTime DESC`,
	},
	{
		Name:        "Activity by access key",
		Description: "Counts the calls made with each access key ID, with the user it belongs to and when it was first and last used.",
		SQL:         `SELECT userIdentity.accessKeyId, userIdentity.arn, count(*) AS calls, min(eventTime) AS firstUsed, max(eventTime) AS lastUsed FROM $EDS_ID WHERE userIdentity.accessKeyId IS NOT NULL GROUP BY 1, 2 ORDER BY calls DESC`,
	},
	{
		Name:        "S3 bucket policy and ACL changes",
		Description: "Lists changes to Amazon S3 bucket policies, bucket ACLs and public access blocks, which can make a bucket public.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn, element_at(requestParameters, 'bucketName') AS bucket, errorCode FROM $EDS_ID WHERE eventSource = 's3.amazonaws.com' AND eventName IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl', 'PutBucketPublicAccessBlock', 'DeleteBucketPublicAccessBlock', 'PutAccountPublicAccessBlock', 'DeleteAccountPublicAccessBlock') ORDER BY eventTime DESC`,
	},
	{
		Name:        "S3 bucket activity",
		Description: "Counts the Amazon S3 calls per bucket and API name.",
		SQL:         `SELECT element_at(requestParameters, 'bucketName') AS bucket, eventName, count(*) AS calls FROM $EDS_ID WHERE eventSource = 's3.amazonaws.com' AND element_at(requestParameters, 'bucketName') IS NOT NULL GROUP BY 1, 2 ORDER BY calls DESC`,
	},
	{
		Name:        "Activity by source IP address",
		Description: "Counts calls per source IP address, with the number of distinct users and the time range: find unexpected IP addresses.",
		SQL:         `SELECT sourceIPAddress, count(*) AS calls, approx_distinct(userIdentity.arn) AS users, min(eventTime) AS firstSeen, max(eventTime) AS lastSeen FROM $EDS_ID GROUP BY sourceIPAddress ORDER BY calls DESC`,
	},
	{
		Name:        "Errors by service",
		Description: "Counts failed calls per event source (service) and error code.",
		SQL:         `SELECT eventSource, errorCode, count(*) AS errors FROM $EDS_ID WHERE errorCode IS NOT NULL GROUP BY eventSource, errorCode ORDER BY errors DESC`,
	},
	{
		Name:        "Throttled API calls",
		Description: "Finds API calls that were throttled (rate exceeded), by service, API and user.",
		SQL:         `SELECT eventSource, eventName, userIdentity.arn, count(*) AS throttled FROM $EDS_ID WHERE errorCode LIKE '%Throttl%' OR errorCode IN ('RequestLimitExceeded', 'TooManyRequestsException') GROUP BY 1, 2, 3 ORDER BY throttled DESC`,
	},
	{
		Name:        "Events per hour",
		Description: "The number of events and failed events in each hour: a timeline of activity to spot bursts.",
		SQL:         `SELECT date_trunc('hour', eventTime) AS hour, count(*) AS events, count_if(errorCode IS NOT NULL) AS failed FROM $EDS_ID GROUP BY 1 ORDER BY 1`,
	},
	{
		Name:        "Daily activity",
		Description: "The number of events and of distinct users per day.",
		SQL:         `SELECT date_trunc('day', eventTime) AS day, count(*) AS events, approx_distinct(userIdentity.arn) AS users FROM $EDS_ID GROUP BY 1 ORDER BY 1`,
	},
	{
		Name:        "Most active users",
		Description: "The users (identity ARNs) that made the most calls, with their identity type and how many of their calls failed.",
		SQL:         `SELECT userIdentity.arn, userIdentity.type, count(*) AS calls, count_if(errorCode IS NOT NULL) AS failed FROM $EDS_ID GROUP BY 1, 2 ORDER BY calls DESC LIMIT 25`,
	},
	{
		Name:        "Write activity by user",
		Description: "Counts the calls that change resources (not read-only) per user: who modifies the account most.",
		SQL:         `SELECT userIdentity.arn, count(*) AS writes FROM $EDS_ID WHERE readOnly = false GROUP BY userIdentity.arn ORDER BY writes DESC`,
	},
	{
		Name:        "Events by identity type",
		Description: "Counts events per user identity type (IAM user, assumed role, root, AWS service, federated user).",
		SQL:         `SELECT userIdentity.type, count(*) AS events FROM $EDS_ID GROUP BY 1 ORDER BY events DESC`,
	},
	{
		Name:        "Regions used",
		Description: "Every AWS Region with activity, when it was first and last used and by how many users: new or unexpected regions stand out.",
		SQL:         `SELECT awsRegion, min(eventTime) AS firstSeen, max(eventTime) AS lastSeen, count(*) AS events, approx_distinct(userIdentity.arn) AS users FROM $EDS_ID GROUP BY awsRegion ORDER BY firstSeen DESC`,
	},
	{
		Name:        "Assumed-role activity",
		Description: "Counts the calls made by assumed roles (temporary credentials), per role name and session issuer.",
		SQL:         `SELECT regexp_extract(userIdentity.arn, ':assumed-role/([^/]+)/', 1) AS role, userIdentity.sessionContext.sessionIssuer.arn AS issuer, count(*) AS calls FROM $EDS_ID WHERE userIdentity.type = 'AssumedRole' GROUP BY 1, 2 ORDER BY calls DESC`,
	},
	{
		Name:        "Role assumptions and federation",
		Description: "Lists AWS STS calls that hand out temporary credentials (AssumeRole, GetFederationToken, GetSessionToken and the SAML and web identity variants).",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn, element_at(requestParameters, 'roleArn') AS roleArn, sourceIPAddress, errorCode FROM $EDS_ID WHERE eventSource = 'sts.amazonaws.com' AND eventName IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity', 'GetFederationToken', 'GetSessionToken') ORDER BY eventTime DESC`,
	},
	{
		Name:        "Unusual user agents",
		Description: "User agents seen rarely (fewer than 5 calls): API calls from unusual tools, scripts or SDKs.",
		SQL:         `SELECT userAgent, count(*) AS calls, approx_distinct(userIdentity.arn) AS users, min(eventTime) AS firstSeen FROM $EDS_ID GROUP BY userAgent HAVING count(*) < 5 ORDER BY calls ASC, firstSeen DESC`,
	},
	{
		Name:        "Calls from command-line tools",
		Description: "Counts calls made with the AWS CLI or common offensive tooling user agents (aws-cli, boto3, python-requests, curl), per user.",
		SQL:         `SELECT userIdentity.arn, regexp_extract(userAgent, '^([A-Za-z0-9_.-]+)', 1) AS tool, count(*) AS calls FROM $EDS_ID WHERE regexp_like(lower(userAgent), '(aws-cli|boto3|botocore|python-requests|curl|stratus)') GROUP BY 1, 2 ORDER BY calls DESC`,
	},
	{
		Name:        "Secrets retrieved",
		Description: "Lists AWS Secrets Manager secret values being read (GetSecretValue, BatchGetSecretValue), by user.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn, element_at(requestParameters, 'secretId') AS secretId, sourceIPAddress, errorCode FROM $EDS_ID WHERE eventSource = 'secretsmanager.amazonaws.com' AND eventName IN ('GetSecretValue', 'BatchGetSecretValue') ORDER BY eventTime DESC`,
	},
	{
		Name:        "SSM parameters decrypted",
		Description: "Finds AWS Systems Manager Parameter Store reads with decryption (SecureString parameters), by user.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn, element_at(requestParameters, 'withDecryption') AS withDecryption, errorCode FROM $EDS_ID WHERE eventSource = 'ssm.amazonaws.com' AND eventName IN ('GetParameter', 'GetParameters', 'GetParametersByPath') ORDER BY eventTime DESC`,
	},
	{
		Name:        "EC2 instances launched",
		Description: "Lists Amazon EC2 RunInstances calls with the instance type and image, to spot unusual or expensive instances.",
		SQL:         `SELECT eventTime, userIdentity.arn, awsRegion, element_at(requestParameters, 'instanceType') AS instanceType, element_at(requestParameters, 'imageId') AS imageId, errorCode FROM $EDS_ID WHERE eventName = 'RunInstances' ORDER BY eventTime DESC`,
	},
	{
		Name:        "Snapshots and images shared",
		Description: "Finds EBS snapshots, AMIs and RDS snapshots whose sharing attributes changed: possible data exfiltration to another account.",
		SQL:         `SELECT eventTime, eventSource, eventName, userIdentity.arn, sourceIPAddress, errorCode FROM $EDS_ID WHERE eventName IN ('ModifySnapshotAttribute', 'ModifyImageAttribute', 'ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute') ORDER BY eventTime DESC`,
	},
	{
		Name:        "Lambda function changes",
		Description: "Lists AWS Lambda functions and layers being created, updated or given new permissions.",
		SQL:         `SELECT eventTime, eventName, userIdentity.arn, element_at(requestParameters, 'functionName') AS functionName, errorCode FROM $EDS_ID WHERE eventSource = 'lambda.amazonaws.com' AND regexp_like(eventName, '^(CreateFunction|UpdateFunctionCode|UpdateFunctionConfiguration|AddPermission|PublishLayerVersion|DeleteFunction)') ORDER BY eventTime DESC`,
	},
	{
		Name:        "Logging and monitoring removed",
		Description: "Finds calls that remove logging or monitoring outside CloudTrail: VPC flow logs, Route 53 resolver query logging, GuardDuty detectors, Config recorders, and accounts leaving the organization.",
		SQL:         `SELECT eventTime, eventSource, eventName, userIdentity.arn, errorCode FROM $EDS_ID WHERE eventName IN ('DeleteFlowLogs', 'DeleteResolverQueryLogConfig', 'DisassociateResolverQueryLogConfig', 'DeleteDetector', 'StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'LeaveOrganization') ORDER BY eventTime DESC`,
	},
	{
		Name:        "Resources touched",
		Description: "Counts events per resource (ARN and type) named in the events' resources list.",
		SQL:         `SELECT r.arn, r.type, count(*) AS events FROM $EDS_ID CROSS JOIN UNNEST(resources) AS t(r) GROUP BY 1, 2 ORDER BY events DESC`,
	},
	{
		Name:        "Recent changes",
		Description: "Calls that changed something (not read-only) in the last 24 hours, newest first.",
		SQL:         `SELECT eventTime, eventSource, eventName, userIdentity.arn, sourceIPAddress FROM $EDS_ID WHERE readOnly = false AND eventTime > current_timestamp - interval '1' day ORDER BY eventTime DESC LIMIT 100`,
	},
	{
		Name:        "Calls made by AWS services",
		Description: "Counts events where an AWS service acted on the account's behalf (identity type AWSService or invokedBy set).",
		SQL:         `SELECT coalesce(userIdentity.invokedBy, sourceIPAddress) AS service, eventName, count(*) AS events FROM $EDS_ID WHERE userIdentity.type = 'AWSService' OR userIdentity.invokedBy IS NOT NULL GROUP BY 1, 2 ORDER BY events DESC`,
	},
}
