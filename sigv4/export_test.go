package sigv4

import "net/http"

// SignatureBySDK computes the signature of r the way Verify does when the
// AWS SDK signer can reproduce the client's canonical request, and reports
// whether it could.
func SignatureBySDK(r *http.Request, a *Auth, secret, payload string) (string, bool) {
	path, query := requestTarget(r)
	if a.Presigned {
		return sdkPresignSignature(r, a, secret, payload, path, query)
	}
	return sdkSignature(r, a, secret, payload, path, query)
}

// SignatureByHand computes the signature of r from the canonical request
// written in this package, the way Verify does when the signer cannot.
func SignatureByHand(r *http.Request, a *Auth, secret, payload string) string {
	path, query := requestTarget(r)
	return handSignature(r, a, secret, payload, path, query)
}
