package api

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/lakeingest"
)

// CloudTrail Lake imports: StartImport records an import in the journal
// database (lakeingest.Import); lakeingest.Importer, started beside the
// server, copies the files and keeps its status and statistics there.

func init() {
	cloudtrailOps["StartImport"] = writeOp(func(r *request, in *ctapi.StartImportRequest) string {
		if len(in.Destinations) == 1 {
			return storeResource(r, &in.Destinations[0])
		}
		return "*"
	}, (*Server).startImport)
	cloudtrailOps["GetImport"] = readOp(anyResource[ctapi.GetImportRequest], (*Server).getImport)
	cloudtrailOps["ListImports"] = readOp(anyResource[ctapi.ListImportsRequest], (*Server).listImports)
	cloudtrailOps["ListImportFailures"] = readOp(anyResource[ctapi.ListImportFailuresRequest], (*Server).listImportFailures)
	cloudtrailOps["StopImport"] = writeOp(anyResource[ctapi.StopImportRequest], (*Server).stopImport)
}

func importNotFound(id string) error {
	return opentrail.Errorf("ImportNotFoundException", "The specified import %s was not found.", id)
}

func ongoingImport(im *lakeingest.Import) error {
	return opentrail.Errorf("AccountHasOngoingImportException",
		"This account already has an import in progress (%s); wait for it to end or stop it (StopImport).", im.ID)
}

// refuseOngoingImport is for the store operations an import in progress
// into the store refuses (UpdateEventDataStore, DeleteEventDataStore).
func refuseOngoingImport(tx *journal.Tx, st *lakeingest.Store) error {
	im, err := lakeingest.StoreImport(tx, st.ID)
	if err != nil {
		return err
	}
	if im != nil {
		return opentrail.Errorf("EventDataStoreHasOngoingImportException",
			"Event data store %s has an import in progress (%s); wait for it to end or stop it (StopImport).", st.ARN(), im.ID)
	}
	return nil
}

// callerImport reads an import of the caller's account and region; tx may
// be nil.
func (s *Server) callerImport(ctx context.Context, tx *journal.Tx, req *request, id string) (*lakeingest.Import, error) {
	var im *lakeingest.Import
	var err error
	if tx != nil {
		im, err = lakeingest.TxImport(tx, id)
	} else {
		im, err = lakeingest.GetImport(ctx, s.db, id)
	}
	if err != nil {
		return nil, err
	}
	if im == nil || im.Account != req.principal.AccountID || im.Region != req.region {
		return nil, importNotFound(id)
	}
	return im, nil
}

func wireImportSource(im *lakeingest.Import) *ctapi.ImportSource {
	return &ctapi.ImportSource{S3: &ctapi.S3ImportSource{
		S3LocationUri: ptr(im.SourceURI), S3BucketRegion: ptr(im.BucketRegion), S3BucketAccessRoleArn: ptr(im.RoleARN),
	}}
}

func optTimestamp(t *lakeingest.Import, end bool) *ctapi.Timestamp {
	v := t.Start
	if end {
		v = t.End
	}
	if v.IsZero() {
		return nil
	}
	return ctapi.NewTimestamp(v)
}

// wireImport is an import's full shape (GetImport).
func wireImport(im *lakeingest.Import) *ctapi.GetImportResponse {
	return &ctapi.GetImportResponse{
		ImportId:         ptr(im.ID),
		Destinations:     []string{im.Destination},
		ImportSource:     wireImportSource(im),
		StartEventTime:   optTimestamp(im, false),
		EndEventTime:     optTimestamp(im, true),
		ImportStatus:     ptr(ctapi.ImportStatus(im.Status)),
		CreatedTimestamp: ctapi.NewTimestamp(im.Created),
		UpdatedTimestamp: ctapi.NewTimestamp(im.Updated),
		ImportStatistics: &ctapi.ImportStatistics{
			PrefixesFound:     ptr(im.Stats.PrefixesFound),
			PrefixesCompleted: ptr(im.Stats.PrefixesCompleted),
			FilesCompleted:    ptr(im.Stats.FilesCompleted),
			EventsCompleted:   ptr(im.Stats.EventsCompleted),
			FailedEntries:     ptr(im.Stats.FailedEntries),
		},
	}
}

func startImportResponse(im *lakeingest.Import) *ctapi.StartImportResponse {
	w := wireImport(im)
	return &ctapi.StartImportResponse{ImportId: w.ImportId, Destinations: w.Destinations, ImportSource: w.ImportSource,
		StartEventTime: w.StartEventTime, EndEventTime: w.EndEventTime, ImportStatus: w.ImportStatus,
		CreatedTimestamp: w.CreatedTimestamp, UpdatedTimestamp: w.UpdatedTimestamp}
}

func (s *Server) startImport(tx *journal.Tx, req *request, in *ctapi.StartImportRequest) (any, error) {
	if err := s.lakeConfigured(); err != nil {
		return nil, err
	}
	if in.ImportId != nil {
		return s.retryImport(tx, req, in)
	}
	if len(in.Destinations) != 1 || in.ImportSource == nil || in.ImportSource.S3 == nil {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter,
			"StartImport needs Destinations (one event data store) and ImportSource, or an ImportId alone to retry an import.")
	}
	st, err := s.findStore(context.Background(), tx, req, in.Destinations[0])
	if err != nil {
		return nil, err
	}
	switch {
	case st.Status == lakeingest.StatusPendingDeletion:
		return nil, opentrail.Errorf("InactiveEventDataStoreException", "Event data store %s is pending deletion.", st.ARN())
	case !st.Ingesting():
		return nil, opentrail.Errorf("InvalidEventDataStoreStatusException",
			"Event data store %s is %s; it must be ENABLED to import events.", st.ARN(), st.Status)
	case st.TakesActivity():
		return nil, opentrail.Errorf("InvalidEventDataStoreCategoryException",
			"Event data store %s takes events from channels (ActivityAuditLog); trail events cannot be imported into it.", st.ARN())
	}
	src := in.ImportSource.S3
	uri, region, role := deref(src.S3LocationUri), deref(src.S3BucketRegion), deref(src.S3BucketAccessRoleArn)
	bucket, prefix, ok := lakeingest.ParseS3URI(uri)
	if !ok {
		return nil, opentrail.Errorf("InvalidImportSourceException",
			"S3LocationUri %q is not s3://<bucket>/[<prefix>/] with a valid bucket name.", uri)
	}
	if !opentrail.ValidRegionName(region) {
		return nil, opentrail.Errorf("InvalidImportSourceException", "S3BucketRegion %q is not a region name.", region)
	}
	// opentrail reads the bucket with its own access to the bucket store:
	// the role must be well formed, but it is not assumed.
	if !lakeingest.ValidRoleARN(role) {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter,
			"S3BucketAccessRoleArn %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>).", role)
	}
	if s.cfg.Buckets == nil {
		return nil, opentrail.Errorf("InvalidImportSourceException", "The S3 bucket %s does not exist: this opentrail has no bucket store.", bucket)
	}
	info, err := s.cfg.Buckets.Bucket(context.Background(), bucket)
	if errors.Is(err, blob.ErrNoSuchBucket) {
		return nil, opentrail.Errorf("InvalidImportSourceException", "The S3 bucket %s does not exist.", bucket)
	}
	if err != nil {
		return nil, err
	}
	if info.Owner != "" && info.Owner != req.principal.AccountID {
		// With no roles to assume, reading another account's bucket would
		// hand its logs to whoever names it.
		return nil, opentrail.Errorf("InvalidImportSourceException",
			"The S3 bucket %s belongs to another account: opentrail imports only from buckets of the caller's account.", bucket)
	}
	if info.Region != "" && info.Region != region {
		return nil, opentrail.Errorf("InvalidImportSourceException",
			"The S3 bucket %s is in %s, not in the S3BucketRegion given (%s).", bucket, info.Region, region)
	}
	im := &lakeingest.Import{
		ID:           uuid.NewString(),
		Account:      req.principal.AccountID,
		Region:       req.region,
		Store:        st.ID,
		Destination:  st.ARN(),
		SourceURI:    uri,
		Bucket:       bucket,
		Prefix:       prefix,
		BucketRegion: region,
		RoleARN:      role,
		Status:       lakeingest.ImportInitializing,
		Created:      s.now().UTC(),
	}
	im.Updated = im.Created
	if in.StartEventTime != nil {
		im.Start = in.StartEventTime.UTC()
	}
	if in.EndEventTime != nil {
		im.End = in.EndEventTime.UTC()
	}
	if !im.Start.IsZero() && !im.End.IsZero() && im.Start.After(im.End) {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "StartEventTime (%s) is after EndEventTime (%s).",
			im.Start.Format("2006-01-02T15:04:05Z"), im.End.Format("2006-01-02T15:04:05Z"))
	}
	if !im.Start.IsZero() && im.Start.After(im.Created) {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "StartEventTime (%s) is in the future.", im.Start.Format("2006-01-02T15:04:05Z"))
	}
	if other, err := lakeingest.OngoingImport(tx, im.Account); err != nil {
		return nil, err
	} else if other != nil {
		return nil, ongoingImport(other)
	}
	if err := lakeingest.PutImport(tx, im); err != nil {
		return nil, err
	}
	return startImportResponse(im), nil
}

// retryImport runs a failed or stopped import again: it copies the files
// that failed and those it had not reached.
func (s *Server) retryImport(tx *journal.Tx, req *request, in *ctapi.StartImportRequest) (any, error) {
	if len(in.Destinations) > 0 || in.ImportSource != nil || in.StartEventTime != nil || in.EndEventTime != nil {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter,
			"To retry an import give its ImportId alone, without Destinations, ImportSource, StartEventTime or EndEventTime.")
	}
	im, err := s.callerImport(context.Background(), tx, req, *in.ImportId)
	if err != nil {
		return nil, err
	}
	other, err := lakeingest.OngoingImport(tx, im.Account)
	if err != nil {
		return nil, err
	}
	if other != nil {
		return nil, ongoingImport(other)
	}
	if im.Status == lakeingest.ImportCompleted {
		return nil, opentrail.Errorf("OperationNotPermittedException", "Import %s is COMPLETED: there is nothing to retry.", im.ID)
	}
	st, err := lakeingest.TxStore(tx, im.Store)
	if err != nil {
		return nil, err
	}
	if st == nil || st.Status == lakeingest.StatusPendingDeletion {
		return nil, opentrail.Errorf("InactiveEventDataStoreException", "The destination of import %s, %s, is pending deletion or gone.", im.ID, im.Destination)
	}
	if err := lakeingest.RetryImport(tx, im, s.now().UTC()); err != nil {
		return nil, err
	}
	return startImportResponse(im), nil
}

func (s *Server) getImport(ctx context.Context, req *request, in *ctapi.GetImportRequest) (any, error) {
	im, err := s.callerImport(ctx, nil, req, deref(in.ImportId))
	if err != nil {
		return nil, err
	}
	return wireImport(im), nil
}

func (s *Server) stopImport(tx *journal.Tx, req *request, in *ctapi.StopImportRequest) (any, error) {
	im, err := s.callerImport(context.Background(), tx, req, deref(in.ImportId))
	if err != nil {
		return nil, err
	}
	switch im.Status {
	case lakeingest.ImportInitializing, lakeingest.ImportInProgress:
		im.Status = lakeingest.ImportStopped
		im.Updated = s.now().UTC()
		if err := lakeingest.PutImport(tx, im); err != nil {
			return nil, err
		}
	case lakeingest.ImportStopped:
	default:
		return nil, opentrail.Errorf("OperationNotPermittedException", "Import %s is %s: only an import in progress can be stopped.", im.ID, im.Status)
	}
	w := wireImport(im)
	return &ctapi.StopImportResponse{ImportId: w.ImportId, ImportSource: w.ImportSource, Destinations: w.Destinations,
		ImportStatus: w.ImportStatus, CreatedTimestamp: w.CreatedTimestamp, UpdatedTimestamp: w.UpdatedTimestamp,
		StartEventTime: w.StartEventTime, EndEventTime: w.EndEventTime, ImportStatistics: w.ImportStatistics}, nil
}

func (s *Server) listImports(ctx context.Context, req *request, in *ctapi.ListImportsRequest) (any, error) {
	var dest string
	if in.Destination != nil {
		id, region, account, ok := lakeingest.ParseStoreRef(*in.Destination)
		if !ok {
			return nil, opentrail.Errorf("EventDataStoreARNInvalidException",
				"%q is not an event data store ARN (arn:aws:cloudtrail:<region>:<account>:eventdatastore/<id>) or ID.", *in.Destination)
		}
		if (region != "" && region != req.region) || (account != "" && account != req.principal.AccountID) {
			id = "" // another account's or region's store: nothing of the caller's
		}
		dest = id
	}
	all, err := lakeingest.Imports(ctx, s.db, req.principal.AccountID, req.region)
	if err != nil {
		return nil, err
	}
	var imports []*lakeingest.Import
	for _, im := range all {
		if in.Destination != nil && im.Store != dest {
			continue
		}
		if in.ImportStatus != nil && im.Status != string(*in.ImportStatus) {
			continue
		}
		imports = append(imports, im)
	}
	limit := 1000
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	start, err := pageStart(in.NextToken, "imports", "ListImports", len(imports))
	if err != nil {
		return nil, err
	}
	out := &ctapi.ListImportsResponse{Imports: []ctapi.ImportsListItem{}}
	for i := start; i < len(imports) && len(out.Imports) < limit; i++ {
		w := wireImport(imports[i])
		out.Imports = append(out.Imports, ctapi.ImportsListItem{ImportId: w.ImportId, ImportStatus: w.ImportStatus,
			Destinations: w.Destinations, CreatedTimestamp: w.CreatedTimestamp, UpdatedTimestamp: w.UpdatedTimestamp})
	}
	out.NextToken = nextPage("imports", start+len(out.Imports), len(imports))
	return out, nil
}

func (s *Server) listImportFailures(ctx context.Context, req *request, in *ctapi.ListImportFailuresRequest) (any, error) {
	im, err := s.callerImport(ctx, nil, req, deref(in.ImportId))
	if err != nil {
		return nil, err
	}
	failures, err := lakeingest.ImportFailures(ctx, s.db, im.ID)
	if err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	start, err := pageStart(in.NextToken, "failures", "ListImportFailures", len(failures))
	if err != nil {
		return nil, err
	}
	out := &ctapi.ListImportFailuresResponse{Failures: []ctapi.ImportFailureListItem{}}
	for i := start; i < len(failures) && len(out.Failures) < limit; i++ {
		f := failures[i]
		out.Failures = append(out.Failures, ctapi.ImportFailureListItem{Location: ptr(f.Location),
			Status: ptr(ctapi.ImportFailureStatus(f.Status)), ErrorType: ptr(f.ErrorType), ErrorMessage: ptr(f.ErrorMessage),
			LastUpdatedTime: ctapi.NewTimestamp(f.Updated)})
	}
	out.NextToken = nextPage("failures", start+len(out.Failures), len(failures))
	return out, nil
}
