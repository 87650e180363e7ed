package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail/lakeresults"
)

// Saved results: a query's results as StartQuery saved them in a bucket
// (DeliveryS3Uri), read with the user's own S3 access, their sign file
// checked with the region's public key from ListPublicKeys, and sent as
// one CSV.

// handleSavedResults sends a query's saved results once they verify. A
// failure before the first byte is an error page; one after it (which a
// verified file cannot cause short of a broken connection) aborts the
// response, so the browser never keeps part of a file as the whole.
func (c *Console) handleSavedResults(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx := c.forBrowser(r)
	cl := c.clients(s)
	desc, err := cl.ct.DescribeQuery(ctx, &cloudtrail.DescribeQueryInput{QueryId: aws.String(id)})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if desc.DeliveryS3Uri == nil || desc.DeliveryStatus != types.DeliveryStatusSuccess {
		c.renderError(w, r, http.StatusNotFound, "ResultsNotSaved",
			fmt.Sprintf("Query %s has no saved results (delivery status %q).", id, desc.DeliveryStatus))
		return
	}
	var created time.Time
	if desc.QueryStatistics != nil {
		created = aws.ToTime(desc.QueryStatistics.CreationTime)
	}
	bucket, dir, err := lakeresults.Location(aws.ToString(desc.DeliveryS3Uri), s.principal.AccountID, id, created)
	if err != nil {
		c.renderError(w, r, http.StatusBadRequest, "InvalidParameterException", err.Error())
		return
	}
	get := func(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
		out, err := cl.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		return out.Body, nil
	}
	key := func(ctx context.Context, region, fingerprint string) ([]byte, error) {
		// The key that signed the results was valid when the query ended.
		in := &cloudtrail.ListPublicKeysInput{}
		if !created.IsZero() {
			in.StartTime = aws.Time(created.Add(-time.Minute))
		}
		for p := cloudtrail.NewListPublicKeysPaginator(cl.ct, in); p.HasMorePages(); {
			out, err := p.NextPage(ctx, func(o *cloudtrail.Options) { o.Region = region })
			if err != nil {
				return nil, err
			}
			for _, k := range out.PublicKeyList {
				if aws.ToString(k.Fingerprint) == fingerprint {
					return k.Value, nil
				}
			}
		}
		return nil, fmt.Errorf("no public key of %s has fingerprint %s", region, fingerprint)
	}
	lw := &lazyDownload{w: w, name: "query-" + id + "-saved.csv"}
	if err := lakeresults.Download(ctx, get, key, bucket, dir, lw); err != nil {
		if lw.started {
			c.log.WarnContext(r.Context(), "saved results download", slog.String("query", id), slog.String("err", err.Error()))
			panic(http.ErrAbortHandler)
		}
		// Download's errors say what is missing or failed to verify.
		c.renderError(w, r, http.StatusBadGateway, "ResultsNotVerified", "The saved results cannot be downloaded: "+err.Error())
		return
	}
	if !lw.started {
		lw.start()
	}
}

// lazyDownload sends the response header with the first byte written, so
// that an error before it can still be an error page.
type lazyDownload struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (l *lazyDownload) start() {
	l.started = true
	h := l.w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": l.name}))
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyDownload) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	return l.w.Write(p)
}
