package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/iam"
	"github.com/opentrail/opentrail/journal"
)

// Buckets is the trails' bucket backend as CreateTrail checks it.
type Buckets interface {
	// Bucket fails with blob.ErrNoSuchBucket when the bucket does not exist.
	Bucket(ctx context.Context, name string) (*blob.BucketInfo, error)
	// BucketPolicy fails with blob.ErrNoSuchBucketPolicy when the bucket
	// has none; any other error means the policy cannot be read, and the
	// check is skipped.
	BucketPolicy(ctx context.Context, name string) (string, error)
}

// Topics is the notification service as CreateTrail checks it.
type Topics interface {
	// TopicARN resolves a topic name or ARN of the account and region;
	// it returns "" when there is no such topic.
	TopicARN(ctx context.Context, ref, account, region string) (string, error)
	// CanPublish reports whether the topic's policy lets a service
	// principal publish on behalf of sourceARN.
	CanPublish(ctx context.Context, topicARN, service, sourceARN string) (bool, error)
}

const cloudtrailPrincipal = "cloudtrail.amazonaws.com"

func trailNotFound(ref, account string) error {
	return opentrail.Errorf("TrailNotFoundException", "Unknown trail: %s for the user: %s", ref, account)
}

// findTrail resolves a trail name (a trail whose home is the request's
// region) or ARN (any trail the account sees in this region, shadow copies
// of multi-region trails included). tx may be nil.
func (s *Server) findTrail(ctx context.Context, tx *journal.Tx, req *request, ref string) (*opentrail.Trail, error) {
	account := req.principal.AccountID
	name, region, arnAccount, isARN, err := opentrail.ParseTrailRef(ref)
	if err != nil {
		return nil, err
	}
	arn := opentrail.TrailARN(req.region, account, name)
	if isARN {
		if arnAccount != account {
			return nil, trailNotFound(ref, account)
		}
		arn = opentrail.TrailARN(region, account, name)
	}
	var t *opentrail.Trail
	if tx != nil {
		t, err = tx.Trail(arn)
	} else {
		t, err = s.db.Trail(ctx, arn)
	}
	if err != nil {
		return nil, err
	}
	if t == nil || !t.Covers(req.region) {
		if !isARN {
			ref = arn
		}
		return nil, trailNotFound(ref, account)
	}
	return t, nil
}

// homeOnly refuses a change made outside the trail's home region.
func homeOnly(t *opentrail.Trail, req *request) error {
	if t.HomeRegion != req.region {
		return opentrail.Errorf("InvalidHomeRegionException",
			"This operation must be called from the trail's home region: trail %s is in %s, the request was sent to %s.", t.ARN(), t.HomeRegion, req.region)
	}
	return nil
}

// trailsInRegion counts the trails an account has in a region: its own and
// the other regions' multi-region trails.
func trailsInRegion(trails []*opentrail.Trail, region string) int {
	n := 0
	for _, t := range trails {
		if t.Covers(region) {
			n++
		}
	}
	return n
}

// checkBucket verifies that the trail's bucket exists and that its policy,
// when opentrail can read it, lets CloudTrail write the trail's log files.
func (s *Server) checkBucket(ctx context.Context, t *opentrail.Trail) error {
	if s.cfg.Buckets == nil {
		return opentrail.Errorf("S3BucketDoesNotExistException", "S3 bucket %s does not exist: this opentrail has no bucket store.", t.S3BucketName)
	}
	if _, err := s.cfg.Buckets.Bucket(ctx, t.S3BucketName); err != nil {
		if errors.Is(err, blob.ErrNoSuchBucket) {
			return opentrail.Errorf("S3BucketDoesNotExistException", "S3 bucket %s does not exist.", t.S3BucketName)
		}
		return err
	}
	policy, err := s.cfg.Buckets.BucketPolicy(ctx, t.S3BucketName)
	insufficient := opentrail.Errorf("InsufficientS3BucketPolicyException",
		"Incorrect S3 bucket policy is detected for bucket: %s. It must allow cloudtrail.amazonaws.com s3:GetBucketAcl on the bucket and s3:PutObject on %s.",
		t.S3BucketName, logObjectsARN(t))
	switch {
	case errors.Is(err, blob.ErrNoSuchBucketPolicy) && s.cfg.RequireBucketPolicy:
		return insufficient
	case errors.Is(err, blob.ErrNoSuchBucketPolicy):
		return nil // an outside service: opentrail writes with its own credentials there
	case err != nil:
		s.log.Info("cannot read bucket policy; not checking it", "bucket", t.S3BucketName, "err", err.Error())
		return nil
	}
	cond := map[string]string{"aws:SourceArn": t.ARN(), "aws:SourceAccount": t.Account, "s3:x-amz-acl": "bucket-owner-full-control"}
	put, err1 := iam.PolicyAllows(policy, iam.PolicyRequest{Service: cloudtrailPrincipal, Action: "s3:PutObject",
		Resource: strings.TrimSuffix(logObjectsARN(t), "*") + "CloudTrail/" + t.HomeRegion + "/x.json.gz", Context: cond})
	acl, err2 := iam.PolicyAllows(policy, iam.PolicyRequest{Service: cloudtrailPrincipal, Action: "s3:GetBucketAcl",
		Resource: "arn:aws:s3:::" + t.S3BucketName, Context: cond})
	if err1 != nil || err2 != nil || !put || !acl {
		return insufficient
	}
	return nil
}

// logObjectsARN is the resource CloudTrail writes a trail's log files under.
func logObjectsARN(t *opentrail.Trail) string {
	prefix := ""
	if t.S3KeyPrefix != "" {
		prefix = strings.TrimSuffix(t.S3KeyPrefix, "/") + "/"
	}
	return "arn:aws:s3:::" + t.S3BucketName + "/" + prefix + "AWSLogs/" + t.Account + "/*"
}

// checkTopic resolves the trail's SNS topic and verifies that CloudTrail may
// publish to it.
func (s *Server) checkTopic(ctx context.Context, t *opentrail.Trail, ref string, region string) error {
	bad := opentrail.Errorf("InsufficientSnsTopicPolicyException", "SNS Topic does not exist or the topic policy is incorrect!")
	if len(ref) > 256 {
		return opentrail.Errorf("InvalidSnsTopicNameException", "SNS topic name %q is longer than 256 characters.", ref[:32]+"...")
	}
	if s.cfg.Topics == nil {
		return bad
	}
	arn, err := s.cfg.Topics.TopicARN(ctx, ref, t.Account, region)
	if err != nil {
		return err
	}
	if arn == "" {
		return bad
	}
	ok, err := s.cfg.Topics.CanPublish(ctx, arn, cloudtrailPrincipal, t.ARN())
	if err != nil {
		return err
	}
	if !ok {
		return bad
	}
	t.SNSTopicARN = arn
	return nil
}

// unsupportedTrailFeatures refuses the trail settings opentrail does not
// implement, naming them.
func unsupportedTrailFeatures(cwGroup, cwRole *string, org *bool) error {
	if deref(cwGroup) != "" || deref(cwRole) != "" {
		return opentrail.Errorf(opentrail.CodeUnsupportedOp, "opentrail does not deliver trails to CloudWatch Logs yet (CloudWatchLogsLogGroupArn, CloudWatchLogsRoleArn).")
	}
	if deref(org) {
		return opentrail.Errorf("OrganizationsNotInUseException", "This account is not a member of an organization, so it cannot create organization trails.")
	}
	return nil
}

// addVersion records the trail's configuration from the call being served
// on (t nil: deleted), for its delivery.
func addVersion(tx *journal.Tx, arn string, t *opentrail.Trail) error {
	seq, err := tx.NextSeq()
	if err != nil {
		return err
	}
	return tx.AddTrailVersion(arn, seq, t)
}

func trailResource(req *request, name *string) string {
	n, region, account, isARN, err := opentrail.ParseTrailRef(deref(name))
	if err != nil {
		return "*"
	}
	if !isARN {
		region, account = req.region, req.principal.AccountID
	}
	return opentrail.TrailARN(region, account, n)
}

func (s *Server) createTrail(tx *journal.Tx, req *request, in *ctapi.CreateTrailRequest) (any, error) {
	ctx := context.Background()
	name := deref(in.Name)
	if err := opentrail.ValidateTrailName(name); err != nil {
		return nil, err
	}
	if err := unsupportedTrailFeatures(in.CloudWatchLogsLogGroupArn, in.CloudWatchLogsRoleArn, in.IsOrganizationTrail); err != nil {
		return nil, err
	}
	account := req.principal.AccountID
	t := &opentrail.Trail{
		Name:                       name,
		Account:                    account,
		HomeRegion:                 req.region,
		S3BucketName:               deref(in.S3BucketName),
		S3KeyPrefix:                deref(in.S3KeyPrefix),
		IncludeGlobalServiceEvents: in.IncludeGlobalServiceEvents == nil || *in.IncludeGlobalServiceEvents,
		IsMultiRegion:              deref(in.IsMultiRegionTrail),
		LogFileValidation:          deref(in.EnableLogFileValidation),
		Created:                    s.now().UTC(),
	}
	if t.IsMultiRegion && !t.IncludeGlobalServiceEvents {
		return nil, opentrail.Errorf("InvalidParameterCombinationException", "Multi-Region trail must include global service events.")
	}
	if err := s.trailKMSKey(ctx, t, deref(in.KmsKeyId)); err != nil {
		return nil, err
	}
	trails, err := tx.Trails(account)
	if err != nil {
		return nil, err
	}
	for _, o := range trails {
		if o.Name == name && o.HomeRegion == req.region {
			return nil, opentrail.Errorf("TrailAlreadyExistsException", "Trail %s already exists for customer: %s", name, account)
		}
	}
	regions := []string{req.region}
	if t.IsMultiRegion {
		regions = s.cfg.Regions
	}
	for _, r := range regions {
		if trailsInRegion(trails, r) >= opentrail.MaxTrails {
			return nil, opentrail.Errorf("MaximumNumberOfTrailsExceededException", "User: %s already has %d trails in %s.", account, opentrail.MaxTrails, r)
		}
	}
	if err := opentrail.ValidateS3BucketName(t.S3BucketName); err != nil {
		return nil, err
	}
	if err := opentrail.ValidateS3KeyPrefix(t.S3KeyPrefix); err != nil {
		return nil, err
	}
	if err := s.checkBucket(ctx, t); err != nil {
		return nil, err
	}
	topicName := deref(in.SnsTopicName)
	if topicName != "" {
		if err := s.checkTopic(ctx, t, topicName, req.region); err != nil {
			return nil, err
		}
	}
	tags, err := checkTags(in.TagsList)
	if err != nil {
		return nil, err
	}
	if err := tx.PutTrail(t); err != nil {
		return nil, err
	}
	if err := tx.PutTags(t.ARN(), tags); err != nil {
		return nil, err
	}
	if err := addVersion(tx, t.ARN(), t); err != nil {
		return nil, err
	}
	// Delivery starts at the trail's creation: the journal keeps what
	// comes after for it.
	seq, err := tx.NextSeq()
	if err != nil {
		return nil, err
	}
	if err := tx.SetCheckpoint("trail:"+t.ARN(), seq-1); err != nil {
		return nil, err
	}
	out := &ctapi.CreateTrailResponse{}
	fillTrailOutput(t, &out.Name, &out.S3BucketName, &out.S3KeyPrefix, &out.SnsTopicName, &out.SnsTopicARN,
		&out.IncludeGlobalServiceEvents, &out.IsMultiRegionTrail, &out.TrailARN, &out.LogFileValidationEnabled,
		&out.KmsKeyId, &out.IsOrganizationTrail)
	return out, nil
}

// fillTrailOutput sets the members CreateTrail and UpdateTrail return.
func fillTrailOutput(t *opentrail.Trail, name, bucket, prefix, topicName, topicARN **string, global, multi **bool,
	arn **string, validation **bool, kms **string, org **bool) {
	*name, *bucket, *arn = ptr(t.Name), ptr(t.S3BucketName), ptr(t.ARN())
	if t.S3KeyPrefix != "" {
		*prefix = ptr(t.S3KeyPrefix)
	}
	if t.SNSTopicARN != "" {
		*topicARN = ptr(t.SNSTopicARN)
		*topicName = ptr(t.SNSTopicARN[strings.LastIndexByte(t.SNSTopicARN, ':')+1:])
	}
	*global, *multi, *validation, *org = ptr(t.IncludeGlobalServiceEvents), ptr(t.IsMultiRegion), ptr(t.LogFileValidation), ptr(t.IsOrganization)
	if t.KMSKeyID != "" {
		*kms = ptr(t.KMSKeyID)
	}
}

func (s *Server) updateTrail(tx *journal.Tx, req *request, in *ctapi.UpdateTrailRequest) (any, error) {
	ctx := context.Background()
	t, err := s.findTrail(ctx, tx, req, deref(in.Name))
	if err != nil {
		return nil, err
	}
	if err := homeOnly(t, req); err != nil {
		return nil, err
	}
	if err := unsupportedTrailFeatures(in.CloudWatchLogsLogGroupArn, in.CloudWatchLogsRoleArn, in.IsOrganizationTrail); err != nil {
		return nil, err
	}
	checkBucket := false
	if in.S3BucketName != nil && *in.S3BucketName != t.S3BucketName {
		if err := opentrail.ValidateS3BucketName(*in.S3BucketName); err != nil {
			return nil, err
		}
		t.S3BucketName, checkBucket = *in.S3BucketName, true
	}
	if in.S3KeyPrefix != nil && *in.S3KeyPrefix != t.S3KeyPrefix {
		if err := opentrail.ValidateS3KeyPrefix(*in.S3KeyPrefix); err != nil {
			return nil, err
		}
		t.S3KeyPrefix, checkBucket = *in.S3KeyPrefix, true
	}
	if in.IsMultiRegionTrail != nil && *in.IsMultiRegionTrail != t.IsMultiRegion {
		t.IsMultiRegion = *in.IsMultiRegionTrail
		// Switching scope switches global service events with it, unless
		// the call says otherwise.
		t.IncludeGlobalServiceEvents = t.IsMultiRegion || req.region == "us-east-1"
		if t.IsMultiRegion {
			trails, err := tx.Trails(t.Account)
			if err != nil {
				return nil, err
			}
			for _, r := range s.cfg.Regions {
				if r != t.HomeRegion && trailsInRegion(trails, r) >= opentrail.MaxTrails {
					return nil, opentrail.Errorf("MaximumNumberOfTrailsExceededException", "User: %s already has %d trails in %s.", t.Account, opentrail.MaxTrails, r)
				}
			}
		}
	}
	if in.IncludeGlobalServiceEvents != nil {
		t.IncludeGlobalServiceEvents = *in.IncludeGlobalServiceEvents
	}
	if t.IsMultiRegion && !t.IncludeGlobalServiceEvents {
		return nil, opentrail.Errorf("InvalidParameterCombinationException", "Multi-Region trail must include global service events.")
	}
	if in.EnableLogFileValidation != nil {
		t.LogFileValidation = *in.EnableLogFileValidation
	}
	if in.KmsKeyId != nil {
		if err := s.trailKMSKey(ctx, t, *in.KmsKeyId); err != nil {
			return nil, err
		}
	}
	if checkBucket {
		if err := s.checkBucket(ctx, t); err != nil {
			return nil, err
		}
	}
	if in.SnsTopicName != nil {
		if *in.SnsTopicName == "" {
			t.SNSTopicARN = ""
		} else if err := s.checkTopic(ctx, t, *in.SnsTopicName, req.region); err != nil {
			return nil, err
		}
	}
	if err := tx.PutTrail(t); err != nil {
		return nil, err
	}
	if err := addVersion(tx, t.ARN(), t); err != nil {
		return nil, err
	}
	out := &ctapi.UpdateTrailResponse{}
	fillTrailOutput(t, &out.Name, &out.S3BucketName, &out.S3KeyPrefix, &out.SnsTopicName, &out.SnsTopicARN,
		&out.IncludeGlobalServiceEvents, &out.IsMultiRegionTrail, &out.TrailARN, &out.LogFileValidationEnabled,
		&out.KmsKeyId, &out.IsOrganizationTrail)
	return out, nil
}

func (s *Server) deleteTrail(tx *journal.Tx, req *request, in *ctapi.DeleteTrailRequest) (any, error) {
	t, err := s.findTrail(context.Background(), tx, req, deref(in.Name))
	if err != nil {
		return nil, err
	}
	if err := homeOnly(t, req); err != nil {
		return nil, err
	}
	if err := tx.DeleteTrail(t.ARN()); err != nil {
		return nil, err
	}
	// Delivery goes on until everything recorded before the deletion is
	// delivered; log files stay in the bucket.
	if err := addVersion(tx, t.ARN(), nil); err != nil {
		return nil, err
	}
	return &ctapi.DeleteTrailResponse{}, nil
}

func (s *Server) setLogging(tx *journal.Tx, req *request, ref string, on bool) error {
	t, err := s.findTrail(context.Background(), tx, req, ref)
	if err != nil {
		return err
	}
	if err := homeOnly(t, req); err != nil {
		return err
	}
	if t.Logging == on {
		return nil
	}
	t.Logging = on
	if on {
		t.StartLoggingTime = s.now().UTC()
	} else {
		t.StopLoggingTime = s.now().UTC()
	}
	if err := tx.PutTrail(t); err != nil {
		return err
	}
	return addVersion(tx, t.ARN(), t)
}

func (s *Server) startLogging(tx *journal.Tx, req *request, in *ctapi.StartLoggingRequest) (any, error) {
	return &ctapi.StartLoggingResponse{}, s.setLogging(tx, req, deref(in.Name), true)
}

func (s *Server) stopLogging(tx *journal.Tx, req *request, in *ctapi.StopLoggingRequest) (any, error) {
	return &ctapi.StopLoggingResponse{}, s.setLogging(tx, req, deref(in.Name), false)
}

// wireTrail is the Trail shape of GetTrail and DescribeTrails.
func wireTrail(t *opentrail.Trail) ctapi.Trail {
	w := ctapi.Trail{
		Name:                       ptr(t.Name),
		S3BucketName:               ptr(t.S3BucketName),
		IncludeGlobalServiceEvents: ptr(t.IncludeGlobalServiceEvents),
		IsMultiRegionTrail:         ptr(t.IsMultiRegion),
		HomeRegion:                 ptr(t.HomeRegion),
		TrailARN:                   ptr(t.ARN()),
		LogFileValidationEnabled:   ptr(t.LogFileValidation),
		HasCustomEventSelectors:    ptr(t.HasCustomEventSelectors()),
		HasInsightSelectors:        ptr(false),
		IsOrganizationTrail:        ptr(t.IsOrganization),
	}
	if t.S3KeyPrefix != "" {
		w.S3KeyPrefix = ptr(t.S3KeyPrefix)
	}
	if t.SNSTopicARN != "" {
		w.SnsTopicARN = ptr(t.SNSTopicARN)
		w.SnsTopicName = ptr(t.SNSTopicARN[strings.LastIndexByte(t.SNSTopicARN, ':')+1:])
	}
	if t.KMSKeyID != "" {
		w.KmsKeyId = ptr(t.KMSKeyID)
	}
	return w
}

func (s *Server) getTrail(ctx context.Context, req *request, in *ctapi.GetTrailRequest) (any, error) {
	t, err := s.findTrail(ctx, nil, req, deref(in.Name))
	if err != nil {
		return nil, err
	}
	w := wireTrail(t)
	return &ctapi.GetTrailResponse{Trail: &w}, nil
}

// visibleTrails lists the trails an account sees in a region: those whose
// home it is and, when shadows are wanted, other regions' multi-region ones.
func (s *Server) visibleTrails(ctx context.Context, req *request, shadows bool) ([]*opentrail.Trail, error) {
	all, err := s.db.Trails(ctx, req.principal.AccountID)
	if err != nil {
		return nil, err
	}
	var out []*opentrail.Trail
	for _, t := range all {
		if t.HomeRegion == req.region || shadows && t.Covers(req.region) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *Server) describeTrails(ctx context.Context, req *request, in *ctapi.DescribeTrailsRequest) (any, error) {
	shadows := in.IncludeShadowTrails == nil || *in.IncludeShadowTrails
	out := &ctapi.DescribeTrailsResponse{TrailList: []ctapi.Trail{}}
	if len(in.TrailNameList) == 0 {
		trails, err := s.visibleTrails(ctx, req, shadows)
		if err != nil {
			return nil, err
		}
		for _, t := range trails {
			out.TrailList = append(out.TrailList, wireTrail(t))
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, ref := range in.TrailNameList {
		t, err := s.findTrail(ctx, nil, req, ref)
		if err != nil {
			if opentrail.ErrorCode(err) == "TrailNotFoundException" {
				continue // DescribeTrails lists the trails it finds
			}
			return nil, err
		}
		if seen[t.ARN()] || (!shadows && t.HomeRegion != req.region) {
			continue
		}
		seen[t.ARN()] = true
		out.TrailList = append(out.TrailList, wireTrail(t))
	}
	return out, nil
}

func (s *Server) listTrails(ctx context.Context, req *request, in *ctapi.ListTrailsRequest) (any, error) {
	trails, err := s.visibleTrails(ctx, req, true)
	if err != nil {
		return nil, err
	}
	out := &ctapi.ListTrailsResponse{Trails: []ctapi.TrailInfo{}}
	for _, t := range trails {
		out.Trails = append(out.Trails, ctapi.TrailInfo{TrailARN: ptr(t.ARN()), Name: ptr(t.Name), HomeRegion: ptr(t.HomeRegion)})
	}
	return out, nil
}

func (s *Server) getTrailStatus(ctx context.Context, req *request, in *ctapi.GetTrailStatusRequest) (any, error) {
	t, err := s.findTrail(ctx, nil, req, deref(in.Name))
	if err != nil {
		return nil, err
	}
	st, err := s.db.TrailStatus(ctx, t.ARN())
	if err != nil {
		return nil, err
	}
	out := &ctapi.GetTrailStatusResponse{IsLogging: ptr(t.Logging)}
	ts := func(v time.Time) *ctapi.Timestamp {
		if v.IsZero() {
			return nil
		}
		return ctapi.NewTimestamp(v)
	}
	str := func(v time.Time) *string {
		if v.IsZero() {
			return nil
		}
		return ptr(v.UTC().Format("2006-01-02T15:04:05Z"))
	}
	out.LatestDeliveryTime = ts(st.LatestDeliveryTime)
	out.LatestNotificationTime = ts(st.LatestNotificationTime)
	out.StartLoggingTime = ts(t.StartLoggingTime)
	out.StopLoggingTime = ts(t.StopLoggingTime)
	out.LatestDigestDeliveryTime = ts(st.LatestDigestDeliveryTime)
	if st.LatestDeliveryError != "" {
		out.LatestDeliveryError = ptr(st.LatestDeliveryError)
	}
	if st.LatestNotificationError != "" {
		out.LatestNotificationError = ptr(st.LatestNotificationError)
	}
	if st.LatestDigestDeliveryError != "" {
		out.LatestDigestDeliveryError = ptr(st.LatestDigestDeliveryError)
	}
	// The deprecated string fields AWS still returns.
	out.LatestDeliveryAttemptTime = str(st.LatestDeliveryAttemptTime)
	out.LatestNotificationAttemptTime = str(st.LatestNotificationAttemptTime)
	out.TimeLoggingStarted = str(t.StartLoggingTime)
	out.TimeLoggingStopped = str(t.StopLoggingTime)
	if !st.LatestDeliveryAttemptTime.IsZero() {
		out.LatestDeliveryAttemptSucceeded = str(st.LatestDeliveryTime)
		if out.LatestDeliveryAttemptSucceeded == nil {
			out.LatestDeliveryAttemptSucceeded = ptr("")
		}
	}
	if !st.LatestNotificationAttemptTime.IsZero() {
		out.LatestNotificationAttemptSucceeded = str(st.LatestNotificationTime)
		if out.LatestNotificationAttemptSucceeded == nil {
			out.LatestNotificationAttemptSucceeded = ptr("")
		}
	}
	return out, nil
}

// Event selectors on the wire and in the domain.

func fromWireSelectors(in []ctapi.EventSelector) []opentrail.EventSelector {
	var out []opentrail.EventSelector
	for _, e := range in {
		sel := opentrail.EventSelector{IncludeManagementEvents: e.IncludeManagementEvents, ExcludeManagementEventSources: e.ExcludeManagementEventSources}
		if e.ReadWriteType != nil {
			sel.ReadWriteType = string(*e.ReadWriteType)
		}
		for _, d := range e.DataResources {
			sel.DataResources = append(sel.DataResources, opentrail.DataResource{Type: deref(d.Type), Values: d.Values})
		}
		out = append(out, sel)
	}
	return out
}

func toWireSelectors(in []opentrail.EventSelector) []ctapi.EventSelector {
	out := []ctapi.EventSelector{}
	for _, e := range in {
		rw := e.ReadWriteType
		if rw == "" {
			rw = "All"
		}
		sel := ctapi.EventSelector{
			ReadWriteType:                 ptr(ctapi.ReadWriteType(rw)),
			IncludeManagementEvents:       ptr(e.IncludeManagementEvents == nil || *e.IncludeManagementEvents),
			DataResources:                 []ctapi.DataResource{},
			ExcludeManagementEventSources: append([]string{}, e.ExcludeManagementEventSources...),
		}
		for _, d := range e.DataResources {
			sel.DataResources = append(sel.DataResources, ctapi.DataResource{Type: ptr(d.Type), Values: append([]string{}, d.Values...)})
		}
		out = append(out, sel)
	}
	return out
}

func fromWireAdvanced(in []ctapi.AdvancedEventSelector) []opentrail.AdvancedEventSelector {
	var out []opentrail.AdvancedEventSelector
	for _, a := range in {
		sel := opentrail.AdvancedEventSelector{Name: deref(a.Name)}
		for _, f := range a.FieldSelectors {
			sel.FieldSelectors = append(sel.FieldSelectors, opentrail.FieldSelector{Field: deref(f.Field), Equals: f.Equals,
				StartsWith: f.StartsWith, EndsWith: f.EndsWith, NotEquals: f.NotEquals, NotStartsWith: f.NotStartsWith, NotEndsWith: f.NotEndsWith})
		}
		out = append(out, sel)
	}
	return out
}

func toWireAdvanced(in []opentrail.AdvancedEventSelector) []ctapi.AdvancedEventSelector {
	out := []ctapi.AdvancedEventSelector{}
	for _, a := range in {
		sel := ctapi.AdvancedEventSelector{FieldSelectors: []ctapi.AdvancedFieldSelector{}}
		if a.Name != "" {
			sel.Name = ptr(a.Name)
		}
		for _, f := range a.FieldSelectors {
			sel.FieldSelectors = append(sel.FieldSelectors, ctapi.AdvancedFieldSelector{Field: ptr(f.Field), Equals: f.Equals,
				StartsWith: f.StartsWith, EndsWith: f.EndsWith, NotEquals: f.NotEquals, NotStartsWith: f.NotStartsWith, NotEndsWith: f.NotEndsWith})
		}
		out = append(out, sel)
	}
	return out
}

func (s *Server) putEventSelectors(tx *journal.Tx, req *request, in *ctapi.PutEventSelectorsRequest) (any, error) {
	t, err := s.findTrail(context.Background(), tx, req, deref(in.TrailName))
	if err != nil {
		return nil, err
	}
	if err := homeOnly(t, req); err != nil {
		return nil, err
	}
	basic, advanced := fromWireSelectors(in.EventSelectors), fromWireAdvanced(in.AdvancedEventSelectors)
	if len(basic) == 0 && len(advanced) == 0 {
		return nil, opentrail.Errorf("InvalidEventSelectorsException", "Specify EventSelectors or AdvancedEventSelectors.")
	}
	if err := opentrail.ValidateTrailSelectors(basic, advanced); err != nil {
		return nil, err
	}
	t.EventSelectors, t.AdvancedEventSelectors = basic, advanced
	if err := tx.PutTrail(t); err != nil {
		return nil, err
	}
	if err := addVersion(tx, t.ARN(), t); err != nil {
		return nil, err
	}
	out := &ctapi.PutEventSelectorsResponse{TrailARN: ptr(t.ARN())}
	if len(basic) > 0 {
		out.EventSelectors = toWireSelectors(basic)
	} else {
		out.AdvancedEventSelectors = toWireAdvanced(advanced)
	}
	return out, nil
}

func (s *Server) getEventSelectors(ctx context.Context, req *request, in *ctapi.GetEventSelectorsRequest) (any, error) {
	t, err := s.findTrail(ctx, nil, req, deref(in.TrailName))
	if err != nil {
		return nil, err
	}
	out := &ctapi.GetEventSelectorsResponse{TrailARN: ptr(t.ARN())}
	switch {
	case len(t.AdvancedEventSelectors) > 0:
		out.AdvancedEventSelectors = toWireAdvanced(t.AdvancedEventSelectors)
	case len(t.EventSelectors) > 0:
		out.EventSelectors = toWireSelectors(t.EventSelectors)
	default:
		// AWS's default: all management events.
		out.EventSelectors = toWireSelectors([]opentrail.EventSelector{{ReadWriteType: "All"}})
	}
	return out, nil
}
