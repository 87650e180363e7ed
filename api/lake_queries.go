package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/iam"
	"github.com/opentrail/opentrail/integrity"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/lake"
	"github.com/opentrail/opentrail/lakeingest"
	"github.com/opentrail/opentrail/lakeresults"
)

// CloudTrail Lake queries: StartQuery records a query and runs it in the
// background on the lake; its state is kept in the journal database
// (lakeingest.Query) and its rows in the lake until they expire.

// QueryResults is where saved query results (DeliveryS3Uri) are written:
// the bucket backend.
type QueryResults interface {
	// PutObject stores an object; a retry with the same key and body must
	// be harmless.
	PutObject(ctx context.Context, bucket, key string, body []byte, contentType string) error
}

// ResultSigner gives the key that signs saved results' sign files: the
// region's digest signing key (package integrity).
type ResultSigner interface {
	Signer(ctx context.Context, region string) (*integrity.Signer, error)
}

// DefaultQueryTimeout is the run-time limit of a query (AWS: about an hour).
const DefaultQueryTimeout = time.Hour

// maxActiveQueries is AWS's quota of queued and running queries per account.
const maxActiveQueries = 10

func init() {
	cloudtrailOps["StartQuery"] = readOp(anyResource[ctapi.StartQueryRequest], (*Server).startQuery)
	cloudtrailOps["DescribeQuery"] = readOp(func(r *request, in *ctapi.DescribeQueryRequest) string { return storeResource(r, in.EventDataStore) }, (*Server).describeQuery)
	cloudtrailOps["GetQueryResults"] = readOp(func(r *request, in *ctapi.GetQueryResultsRequest) string { return storeResource(r, in.EventDataStore) }, (*Server).getQueryResults)
	cloudtrailOps["ListQueries"] = readOp(func(r *request, in *ctapi.ListQueriesRequest) string { return storeResource(r, in.EventDataStore) }, (*Server).listQueries)
	cloudtrailOps["CancelQuery"] = readOp(func(r *request, in *ctapi.CancelQueryRequest) string { return storeResource(r, in.EventDataStore) }, (*Server).cancelQuery)
}

// queryRunner tracks the queries running in this process.
type queryRunner struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]*runningQuery
}

type runningQuery struct {
	cancel    context.CancelFunc
	cancelled bool
}

func newQueryRunner() *queryRunner {
	ctx, cancel := context.WithCancel(context.Background())
	return &queryRunner{ctx: ctx, cancel: cancel, running: map[string]*runningQuery{}}
}

// Close stops the Lake queries still running and waits for them; they end
// CANCELLED. Call it before closing the lake.
func (s *Server) Close() {
	s.queries.cancel()
	s.queries.wg.Wait()
}

// resolver is the lake.Resolver of a caller: stores of the caller's
// account and region that are not pending deletion. It notes the IDs it
// resolved in ids.
func (s *Server) resolver(ctx context.Context, req *request) lake.Resolver {
	return func(ref string) (string, error) {
		id, region, account, ok := lakeingest.ParseStoreRef(ref)
		if !ok {
			return "", fmt.Errorf("%s is not an event data store ID or ARN", ref)
		}
		if (region != "" && region != req.region) || (account != "" && account != req.principal.AccountID) {
			return "", fmt.Errorf("event data store %s not found", ref)
		}
		st, err := lakeingest.GetStore(ctx, s.db, id)
		if err != nil {
			return "", err
		}
		if st == nil || st.Account != req.principal.AccountID || st.Region != req.region {
			return "", fmt.Errorf("event data store %s not found", ref)
		}
		if st.Status == lakeingest.StatusPendingDeletion {
			return "", fmt.Errorf("event data store %s is pending deletion", ref)
		}
		return st.ID, nil
	}
}

func invalidStatement(err error) error {
	var qe *lake.QueryError
	if errors.As(err, &qe) {
		return opentrail.Errorf("InvalidQueryStatementException", "%s", qe.Error())
	}
	return opentrail.Errorf("InvalidQueryStatementException", "%s", err.Error())
}

var deliveryURI = regexp.MustCompile(`^s3://([a-z0-9][.\-a-z0-9]{1,61}[a-z0-9])(/.*)?$`)

// checkDelivery validates a DeliveryS3Uri and returns its bucket and key
// prefix (without slashes at either end).
func (s *Server) checkDelivery(ctx context.Context, req *request, uri string) (bucket, prefix string, err error) {
	m := deliveryURI.FindStringSubmatch(uri)
	if m == nil {
		return "", "", opentrail.Errorf(opentrail.CodeInvalidParameter, "DeliveryS3Uri %q is not s3://<bucket>[/<prefix>].", uri)
	}
	bucket, prefix = m[1], strings.Trim(m[2], "/")
	if s.cfg.Buckets == nil || s.cfg.QueryResults == nil {
		return "", "", opentrail.Errorf("S3BucketDoesNotExistException", "S3 bucket %s does not exist: this opentrail has no bucket store.", bucket)
	}
	if _, err := s.cfg.Buckets.Bucket(ctx, bucket); err != nil {
		if errors.Is(err, blob.ErrNoSuchBucket) {
			return "", "", opentrail.Errorf("S3BucketDoesNotExistException", "S3 bucket %s does not exist.", bucket)
		}
		return "", "", err
	}
	policy, err := s.cfg.Buckets.BucketPolicy(ctx, bucket)
	insufficient := opentrail.Errorf("InsufficientS3BucketPolicyException",
		"Incorrect S3 bucket policy is detected for bucket: %s. It must allow cloudtrail.amazonaws.com s3:PutObject on the bucket's objects and s3:GetBucketAcl on the bucket for this account's event data stores.", bucket)
	switch {
	case errors.Is(err, blob.ErrNoSuchBucketPolicy) && s.cfg.RequireBucketPolicy:
		return "", "", insufficient
	case err != nil:
		return bucket, prefix, nil // not readable or an outside service: opentrail writes with its own credentials
	}
	cond := map[string]string{"aws:SourceArn": lakeingest.StoreARN(req.region, req.principal.AccountID, "x"), "aws:SourceAccount": req.principal.AccountID}
	key := "AWSLogs/" + req.principal.AccountID + "/CloudTrail-Lake/Query/x/result_1.csv.gz"
	if prefix != "" {
		key = prefix + "/" + key
	}
	put, err1 := iam.PolicyAllows(policy, iam.PolicyRequest{Service: cloudtrailPrincipal, Action: "s3:PutObject",
		Resource: "arn:aws:s3:::" + bucket + "/" + key, Context: cond})
	if err1 != nil || !put {
		return "", "", insufficient
	}
	return bucket, prefix, nil
}

func tooManyQueries(n int) error {
	return opentrail.Errorf("MaxConcurrentQueriesException",
		"This account already has %d queries queued or running, the most allowed; wait for one to finish or cancel one.", n)
}

func (s *Server) startQuery(ctx context.Context, req *request, in *ctapi.StartQueryRequest) (any, error) {
	if err := s.lakeConfigured(); err != nil {
		return nil, err
	}
	if in.QueryStatement == nil {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "StartQuery needs a QueryStatement (opentrail has no dashboards, so QueryAlias is not supported).")
	}
	if len(in.QueryParameters) > 0 || in.QueryAlias != nil {
		return nil, opentrail.Errorf(opentrail.CodeUnsupportedOp, "opentrail does not support QueryAlias and QueryParameters on StartQuery yet.")
	}
	if o := deref(in.EventDataStoreOwnerAccountId); o != "" && o != req.principal.AccountID {
		return nil, opentrail.Errorf("EventDataStoreNotFoundException", "opentrail does not share event data stores across accounts (EventDataStoreOwnerAccountId %s).", o)
	}
	stmt := *in.QueryStatement
	if len(stmt) > lake.MaxStatementLength {
		return nil, opentrail.Errorf("InvalidQueryStatementException", "The query statement is longer than %d characters.", lake.MaxStatementLength)
	}
	// The quota first: checking a statement needs one of the lake's query
	// connections, which the account's running queries may all hold.
	if n, err := lakeingest.CountActive(ctx, s.db, req.principal.AccountID); err != nil {
		return nil, err
	} else if n >= maxActiveQueries {
		return nil, tooManyQueries(n)
	}
	resolve := s.resolver(ctx, req)
	_, stores, err := lake.Translate(stmt, resolve)
	if err != nil {
		return nil, invalidStatement(err)
	}
	if err := s.cfg.Lake.Check(ctx, stmt, resolve); err != nil {
		return nil, invalidStatement(err)
	}
	q := &lakeingest.Query{
		ID:        uuid.NewString(),
		Account:   req.principal.AccountID,
		Region:    req.region,
		Stores:    stores,
		Statement: stmt,
		Status:    lakeingest.QueryQueued,
		Created:   s.now().UTC(),
	}
	var bucket, prefix string
	if uri := deref(in.DeliveryS3Uri); uri != "" {
		if bucket, prefix, err = s.checkDelivery(ctx, req, uri); err != nil {
			return nil, err
		}
		q.DeliveryURI, q.DeliveryStatus = uri, string(ctapi.DeliveryStatusPending)
	}
	err = s.db.Update(context.WithoutCancel(ctx), func(tx *journal.Tx) error {
		n, err := lakeingest.ActiveQueries(tx, q.Account)
		if err != nil {
			return err
		}
		if n >= maxActiveQueries {
			return tooManyQueries(n)
		}
		return lakeingest.PutQuery(tx, q)
	})
	if err != nil {
		return nil, err
	}
	qctx, cancel := context.WithCancel(s.queries.ctx)
	rq := &runningQuery{cancel: cancel}
	s.queries.mu.Lock()
	s.queries.running[q.ID] = rq
	s.queries.mu.Unlock()
	s.queries.wg.Add(1)
	go s.runQuery(qctx, rq, req, q, bucket, prefix)
	return &ctapi.StartQueryResponse{QueryId: ptr(q.ID)}, nil
}

// runQuery runs a query to its end and saves its results when asked.
func (s *Server) runQuery(ctx context.Context, rq *runningQuery, req *request, q *lakeingest.Query, bucket, prefix string) {
	defer s.queries.wg.Done()
	defer func() {
		rq.cancel()
		s.queries.mu.Lock()
		delete(s.queries.running, q.ID)
		s.queries.mu.Unlock()
	}()
	bg := context.WithoutCancel(ctx)
	log := s.log.With(slog.String("query", q.ID))
	q.Status = lakeingest.QueryRunning
	if err := s.db.Update(bg, func(tx *journal.Tx) error { return s.putRunning(tx, rq, q) }); err != nil {
		log.Error("record query", slog.String("err", err.Error()))
	}
	timeout := s.cfg.QueryTimeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	var res *lake.Result
	var err error
	if ctx.Err() != nil {
		res = &lake.Result{ID: q.ID, Status: lake.StatusCancelled} // cancelled before it started
	} else {
		res, err = s.cfg.Lake.Query(ctx, q.Statement, s.resolver(bg, req), lake.QueryOptions{ID: q.ID, Timeout: timeout})
	}
	switch {
	case err != nil:
		q.Status, q.Error = lakeingest.QueryFailed, err.Error()
		var qe *lake.QueryError
		if !errors.As(err, &qe) {
			log.Error("query", slog.String("err", err.Error()))
			q.Error = "The query failed: " + opentrail.ErrorMessage(err)
		}
	default:
		q.Status, q.Error = res.Status, res.Message
		q.EventsMatched, q.EventsScanned, q.BytesScanned = res.Stats.EventsMatched, res.Stats.EventsScanned, res.Stats.BytesScanned
		q.ExecTime = res.Stats.ExecutionTime
	}
	s.queries.mu.Lock()
	if rq.cancelled {
		q.Status = lakeingest.QueryCancelled
	}
	s.queries.mu.Unlock()
	q.Finished = s.now().UTC()
	if q.DeliveryURI != "" {
		switch q.Status {
		case lakeingest.QueryFinished, lakeingest.QueryTimedOut:
			q.DeliveryStatus = s.saveResults(bg, log, q, bucket, prefix)
		case lakeingest.QueryCancelled:
			q.DeliveryStatus = string(ctapi.DeliveryStatusCancelled)
		default:
			q.DeliveryStatus = string(ctapi.DeliveryStatusFailed)
		}
	}
	if err := s.db.Update(bg, func(tx *journal.Tx) error { return lakeingest.PutQuery(tx, q) }); err != nil {
		log.Error("record query", slog.String("err", err.Error()))
	}
}

// putRunning records a query as running unless it was cancelled meanwhile.
func (s *Server) putRunning(tx *journal.Tx, rq *runningQuery, q *lakeingest.Query) error {
	s.queries.mu.Lock()
	cancelled := rq.cancelled
	s.queries.mu.Unlock()
	if cancelled {
		return nil
	}
	return lakeingest.PutQuery(tx, q)
}

// ResultsPrefix is the key prefix of a query's saved results in its bucket
// (lakeresults.Dir).
func ResultsPrefix(prefix, account, queryID string, created time.Time) string {
	return lakeresults.Dir(prefix, account, queryID, created)
}

// saveResults writes the results as result_<n>.csv.gz files (package
// lakeresults) and signs them in result_sign.json; it returns the
// DeliveryStatus.
func (s *Server) saveResults(ctx context.Context, log *slog.Logger, q *lakeingest.Query, bucket, prefix string) string {
	dir := ResultsPrefix(prefix, q.Account, q.ID, q.Created)
	put := func(ctx context.Context, bucket, key string, body []byte, contentType string) error {
		return s.cfg.QueryResults.PutObject(ctx, bucket, key, body, contentType)
	}
	w := lakeresults.NewWriter(ctx, put, bucket, dir, cmp.Or(s.cfg.ResultFileBytes, lakeresults.DefaultMaxFileBytes))
	err := s.cfg.Lake.WriteCSV(ctx, q.ID, w)
	if werr := w.Err(); werr != nil {
		err = werr // the bucket's own error (ErrNoSuchBucket), however the lake wrapped it
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		log.Warn("save query results", slog.String("bucket", bucket), slog.String("err", err.Error()))
		if errors.Is(err, blob.ErrNoSuchBucket) {
			return string(ctapi.DeliveryStatusResourceNotFound)
		}
		return string(ctapi.DeliveryStatusFailed)
	}
	if s.cfg.ResultSigner == nil {
		return string(ctapi.DeliveryStatusFailedSigningFile)
	}
	signer, err := s.cfg.ResultSigner.Signer(ctx, q.Region)
	if err != nil {
		log.Error("signing key", slog.String("err", err.Error()))
		return string(ctapi.DeliveryStatusFailedSigningFile)
	}
	sf, err := lakeresults.NewSignFile(q.Region, w.Files(), q.Finished, signer)
	if err != nil {
		log.Error("sign query results", slog.String("err", err.Error()))
		return string(ctapi.DeliveryStatusFailedSigningFile)
	}
	if err := put(ctx, bucket, dir+lakeresults.SignFileName, sf.Marshal(), lakeresults.SignContentType); err != nil {
		log.Warn("save query sign file", slog.String("bucket", bucket), slog.String("err", err.Error()))
		return string(ctapi.DeliveryStatusFailedSigningFile)
	}
	return string(ctapi.DeliveryStatusSuccess)
}

// findQuery resolves a QueryId of the caller's account and region; when
// the request names an event data store, it must exist and be active.
func (s *Server) findQuery(ctx context.Context, req *request, id, storeRef string) (*lakeingest.Query, error) {
	if err := s.lakeConfigured(); err != nil {
		return nil, err
	}
	if storeRef != "" {
		st, err := s.findStore(ctx, nil, req, storeRef)
		if err != nil {
			return nil, err
		}
		if st.Status == lakeingest.StatusPendingDeletion {
			return nil, opentrail.Errorf("InactiveEventDataStoreException", "Event data store %s is pending deletion.", st.ARN())
		}
	}
	q, err := lakeingest.GetQuery(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if q == nil || q.Account != req.principal.AccountID || q.Region != req.region {
		return nil, opentrail.Errorf("QueryIdNotFoundException", "The query ID %s does not exist or does not map to a query.", id)
	}
	return q, nil
}

func (s *Server) describeQuery(ctx context.Context, req *request, in *ctapi.DescribeQueryRequest) (any, error) {
	if in.QueryId == nil {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "DescribeQuery needs a QueryId (opentrail has no dashboards, so QueryAlias is not supported).")
	}
	q, err := s.findQuery(ctx, req, *in.QueryId, deref(in.EventDataStore))
	if err != nil {
		return nil, err
	}
	out := &ctapi.DescribeQueryResponse{
		QueryId:     ptr(q.ID),
		QueryString: ptr(q.Statement),
		QueryStatus: ptr(ctapi.QueryStatus(q.Status)),
		QueryStatistics: &ctapi.QueryStatisticsForDescribeQuery{
			EventsMatched:         ptr(q.EventsMatched),
			EventsScanned:         ptr(q.EventsScanned),
			BytesScanned:          ptr(q.BytesScanned),
			ExecutionTimeInMillis: ptr(int32(min(q.ExecTime.Milliseconds(), 1<<31-1))),
			CreationTime:          ctapi.NewTimestamp(q.Created),
		},
	}
	if q.Error != "" {
		out.ErrorMessage = ptr(q.Error)
	}
	if q.DeliveryURI != "" {
		out.DeliveryS3Uri = ptr(q.DeliveryURI)
		out.DeliveryStatus = ptr(ctapi.DeliveryStatus(q.DeliveryStatus))
	}
	return out, nil
}

func (s *Server) getQueryResults(ctx context.Context, req *request, in *ctapi.GetQueryResultsRequest) (any, error) {
	q, err := s.findQuery(ctx, req, deref(in.QueryId), deref(in.EventDataStore))
	if err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxQueryResults != nil {
		limit = int(*in.MaxQueryResults)
	}
	if limit < 1 || limit > 1000 {
		return nil, opentrail.Errorf("InvalidMaxResultsException", "MaxQueryResults must be between 1 and 1000.")
	}
	var offset int64
	if in.NextToken != nil {
		n, err := strconv.ParseInt(strings.TrimPrefix(*in.NextToken, q.ID+":"), 10, 64)
		if err != nil || !strings.HasPrefix(*in.NextToken, q.ID+":") || n < 0 {
			return nil, opentrail.Errorf("InvalidNextTokenException", "The NextToken is not one GetQueryResults returned for this query.")
		}
		offset = n
	}
	out := &ctapi.GetQueryResultsResponse{
		QueryStatus:     ptr(ctapi.QueryStatus(q.Status)),
		QueryStatistics: &ctapi.QueryStatistics{ResultsCount: ptr(int32(0)), TotalResultsCount: ptr(int32(0)), BytesScanned: ptr(q.BytesScanned)},
		QueryResultRows: [][]map[string]string{},
	}
	if q.Error != "" {
		out.ErrorMessage = ptr(q.Error)
	}
	if q.Active() {
		return out, nil
	}
	page, err := s.cfg.Lake.Results(ctx, q.ID, offset, limit)
	if errors.Is(err, lake.ErrResultsNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, row := range page.Rows {
		r := make([]map[string]string, len(row))
		for i, c := range row {
			r[i] = map[string]string{c.Column: c.Value}
		}
		out.QueryResultRows = append(out.QueryResultRows, r)
	}
	out.QueryStatistics.ResultsCount = ptr(int32(len(page.Rows)))
	out.QueryStatistics.TotalResultsCount = ptr(int32(min(page.Total, 1<<31-1)))
	if page.Next >= 0 {
		out.NextToken = ptr(q.ID + ":" + strconv.FormatInt(page.Next, 10))
	}
	return out, nil
}

func (s *Server) listQueries(ctx context.Context, req *request, in *ctapi.ListQueriesRequest) (any, error) {
	if err := s.lakeConfigured(); err != nil {
		return nil, err
	}
	st, err := s.findStore(ctx, nil, req, deref(in.EventDataStore))
	if err != nil {
		return nil, err
	}
	if st.Status == lakeingest.StatusPendingDeletion {
		return nil, opentrail.Errorf("InactiveEventDataStoreException", "Event data store %s is pending deletion.", st.ARN())
	}
	now := s.now()
	start, end := now.Add(-lakeingest.QueryRetention), now
	if in.StartTime != nil && in.StartTime.After(start) {
		start = in.StartTime.Time
	}
	if in.EndTime != nil {
		end = in.EndTime.Time
	}
	if in.StartTime != nil && in.EndTime != nil && in.StartTime.After(in.EndTime.Time) {
		return nil, opentrail.Errorf("InvalidDateRangeException", "StartTime must be before EndTime.")
	}
	limit := 1000
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	all, err := lakeingest.Queries(ctx, s.db, req.principal.AccountID, req.region, start)
	if err != nil {
		return nil, err
	}
	var picked []*lakeingest.Query
	for _, q := range all {
		if !q.Reads(st.ID) || q.Created.After(end) || (in.QueryStatus != nil && q.Status != string(*in.QueryStatus)) {
			continue
		}
		picked = append(picked, q)
	}
	first, err := pageStart(in.NextToken, "queries", "ListQueries", len(picked))
	if err != nil {
		return nil, err
	}
	out := &ctapi.ListQueriesResponse{Queries: []ctapi.Query{}}
	for i := first; i < len(picked) && len(out.Queries) < limit; i++ {
		q := picked[i]
		out.Queries = append(out.Queries, ctapi.Query{QueryId: ptr(q.ID), QueryStatus: ptr(ctapi.QueryStatus(q.Status)), CreationTime: ctapi.NewTimestamp(q.Created)})
	}
	out.NextToken = nextPage("queries", first+len(out.Queries), len(picked))
	return out, nil
}

func (s *Server) cancelQuery(ctx context.Context, req *request, in *ctapi.CancelQueryRequest) (any, error) {
	q, err := s.findQuery(ctx, req, deref(in.QueryId), deref(in.EventDataStore))
	if err != nil {
		return nil, err
	}
	inactive := opentrail.Errorf("InactiveQueryException", "Query %s is %s: only a queued or running query can be cancelled.", q.ID, q.Status)
	s.queries.mu.Lock()
	rq := s.queries.running[q.ID]
	if rq != nil {
		rq.cancelled = true
	}
	s.queries.mu.Unlock()
	if rq == nil {
		return nil, inactive
	}
	err = s.db.Update(context.WithoutCancel(ctx), func(tx *journal.Tx) error {
		cur, err := lakeingest.TxQuery(tx, q.ID)
		if err != nil {
			return err
		}
		if cur == nil || !cur.Active() {
			return inactive
		}
		cur.Status = lakeingest.QueryCancelled
		if cur.DeliveryURI != "" {
			cur.DeliveryStatus = string(ctapi.DeliveryStatusCancelled)
		}
		return lakeingest.PutQuery(tx, cur)
	})
	rq.cancel() // interrupts DuckDB
	if err != nil {
		return nil, err
	}
	return &ctapi.CancelQueryResponse{QueryId: ptr(q.ID), QueryStatus: ptr(ctapi.QueryStatus(lakeingest.QueryCancelled))}, nil
}
