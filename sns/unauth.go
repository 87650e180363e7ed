package sns

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// ServeUnauthenticated answers the two requests that reach SNS without a
// signature, and reports whether r was one of them:
//
//   - GET CertPath: the certificate that verifies message signatures.
//   - GET /?Action=ConfirmSubscription&TopicArn=...&Token=... without
//     credentials (no Authorization header, no X-Amz-Signature or
//     X-Amz-Credential parameter): the SubscribeURL of a
//     SubscriptionConfirmation, followed by a subscriber. The token is the
//     authority; the answer is ConfirmSubscription's XML response or
//     error.
//
// For anything else it writes nothing and returns false; a signed
// ConfirmSubscription goes through Serve like any other call.
//
// Unauthenticated confirmations are not recorded in CloudTrail, as AWS
// does not record them: the state change is committed alone.
func (s *Service) ServeUnauthenticated(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.URL.Path == s.base.Path+CertPath {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(s.certPEM)
		}
		return true
	}
	// HEAD must not confirm: link checkers and previewers send it.
	if r.Method != http.MethodGet || (r.URL.Path != "/" && r.URL.Path != s.base.Path+"/") {
		return false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || q.Get("Action") != "ConfirmSubscription" || r.Header.Get("Authorization") != "" {
		return false
	}
	for k := range q {
		if strings.EqualFold(k, "X-Amz-Signature") || strings.EqualFold(k, "X-Amz-Credential") {
			return false
		}
	}
	requestID := uuid.NewString()
	w.Header().Set("x-amzn-RequestId", requestID)
	arn, err := s.confirmUnauthenticated(r, q)
	if err != nil {
		s.writeError(w, requestID, "ConfirmSubscription", err)
		return true
	}
	writeXML(w, http.StatusOK, response{
		XMLName: xml.Name{Local: "ConfirmSubscriptionResponse"},
		Xmlns:   xmlns,
		Result:  confirmSubscriptionResult{SubscriptionArn: arn},
		Meta:    responseMetadata{RequestID: requestID},
	})
	return true
}

func (s *Service) confirmUnauthenticated(r *http.Request, q url.Values) (string, error) {
	topicARN, token := q.Get("TopicArn"), q.Get("Token")
	if topicARN == "" {
		return "", errorf(codeMissingParameter, "The request must contain the parameter TopicArn.")
	}
	if token == "" {
		return "", errorf(codeMissingParameter, "The request must contain the parameter Token.")
	}
	if _, ok := parseTopicARN(topicARN); !ok {
		return "", invalid("Invalid parameter: TopicArn")
	}
	var arn string
	err := s.db.Update(r.Context(), func(tx *journal.Tx) error {
		var err error
		// AuthenticateOnUnsubscribe needs a signed request.
		arn, err = confirm(tx, topicARN, token, false)
		return err
	})
	var e *opentrail.Error
	if err != nil && !errors.As(err, &e) {
		return "", s.internal("", "ConfirmSubscription", err)
	}
	return arn, err
}
