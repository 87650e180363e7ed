package api

import (
	"context"
	"errors"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/integrity"
)

// PublicKeys are the regions' digest signing keys (package integrity).
type PublicKeys interface {
	PublicKeys(ctx context.Context, region string, start, end time.Time) ([]integrity.PublicKey, error)
}

// KMSKeys is the key service as trails use it.
type KMSKeys interface {
	// TrailKey resolves a trail's KmsKeyId (key ID, key ARN, alias name or
	// alias ARN) in the account and region and checks that CloudTrail may
	// use it for the trail. It returns the key's ARN, or an
	// *opentrail.Error: KmsKeyNotFoundException, KmsKeyDisabledException or
	// InsufficientEncryptionPolicyException.
	TrailKey(ctx context.Context, ref, account, region, trailARN string) (string, error)
}

func (s *Server) listPublicKeys(ctx context.Context, req *request, in *ctapi.ListPublicKeysRequest) (any, error) {
	if in.NextToken != nil {
		// The API reserves NextToken; opentrail returns every key at once.
		return nil, opentrail.Errorf("InvalidTokenException", "Reserved for future use.")
	}
	if s.cfg.PublicKeys == nil {
		return nil, opentrail.Errorf(opentrail.CodeUnsupportedOp, "Log file integrity validation is not configured on this server.")
	}
	var start, end time.Time
	if in.StartTime != nil {
		start = in.StartTime.Time
	}
	if in.EndTime != nil {
		end = in.EndTime.Time
	}
	keys, err := s.cfg.PublicKeys.PublicKeys(ctx, req.region, start, end)
	if errors.Is(err, integrity.ErrInvalidTimeRange) {
		return nil, opentrail.Errorf("InvalidTimeRangeException", "Start time must be before end time.")
	}
	if err != nil {
		return nil, err
	}
	out := &ctapi.ListPublicKeysResponse{PublicKeyList: []ctapi.PublicKey{}}
	for _, k := range keys {
		out.PublicKeyList = append(out.PublicKeyList, ctapi.PublicKey{Value: k.Value,
			ValidityStartTime: ctapi.NewTimestamp(k.ValidityStart), ValidityEndTime: ctapi.NewTimestamp(k.ValidityEnd),
			Fingerprint: ptr(k.Fingerprint)})
	}
	return out, nil
}

// trailKMSKey sets the trail's KMS key from a KmsKeyId ("" removes it).
func (s *Server) trailKMSKey(ctx context.Context, t *opentrail.Trail, ref string) error {
	if ref == "" {
		t.KMSKeyID = ""
		return nil
	}
	if len(ref) > 350 {
		return opentrail.Errorf("InvalidKmsKeyIdException", "KMS key ID is longer than 350 characters.")
	}
	if s.cfg.KMSKeys == nil {
		// An outside bucket service encrypts with a key opentrail cannot
		// see: the reference goes to it as given.
		t.KMSKeyID = ref
		return nil
	}
	arn, err := s.cfg.KMSKeys.TrailKey(ctx, ref, t.Account, t.HomeRegion, t.ARN())
	if err != nil {
		return err
	}
	t.KMSKeyID = arn
	return nil
}
