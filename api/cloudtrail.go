package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/journal"
)

// op serves one CloudTrail operation. Exactly one of read and write is set.
type op struct {
	// read serves a read-only call; its record is appended afterwards.
	read func(s *Server, ctx context.Context, req *request, body []byte) (any, error)
	// write serves a call that changes state: its changes and its record
	// commit in one transaction.
	write func(s *Server, tx *journal.Tx, req *request, body []byte) (any, error)
}

// readOp adapts a typed read handler: it decodes the input, asks the
// authorization point, and runs fn.
func readOp[In any](resource func(*request, *In) string, fn func(s *Server, ctx context.Context, req *request, in *In) (any, error)) op {
	return op{read: func(s *Server, ctx context.Context, req *request, body []byte) (any, error) {
		var in In
		if err := ctapi.Decode(req.op, body, &in); err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, req, "cloudtrail:"+req.op, resource(req, &in)); err != nil {
			return nil, err
		}
		return fn(s, ctx, req, &in)
	}}
}

// writeOp adapts a typed write handler like readOp.
func writeOp[In any](resource func(*request, *In) string, fn func(s *Server, tx *journal.Tx, req *request, in *In) (any, error)) op {
	return op{write: func(s *Server, tx *journal.Tx, req *request, body []byte) (any, error) {
		var in In
		if err := ctapi.Decode(req.op, body, &in); err != nil {
			return nil, err
		}
		if err := s.authorize(context.Background(), req, "cloudtrail:"+req.op, resource(req, &in)); err != nil {
			return nil, err
		}
		return fn(s, tx, req, &in)
	}}
}

// anyResource is the resource of actions that act on none ("*").
func anyResource[In any](*request, *In) string { return "*" }

// cloudtrailOps are the operations opentrail serves; the model's others
// answer UnsupportedOperationException naming the operation.
var cloudtrailOps map[string]op

func init() {
	cloudtrailOps = map[string]op{
		"LookupEvents":  readOp(anyResource[ctapi.LookupEventsRequest], (*Server).lookupEvents),
		"CreateChannel": writeOp(channelResourceOfCreate, (*Server).createChannel),
		"GetChannel":    readOp(channelResource[ctapi.GetChannelRequest], (*Server).getChannel),
		"ListChannels":  readOp(anyResource[ctapi.ListChannelsRequest], (*Server).listChannels),
		"UpdateChannel": writeOp(channelResource[ctapi.UpdateChannelRequest], (*Server).updateChannel),
		"DeleteChannel": writeOp(channelResource[ctapi.DeleteChannelRequest], (*Server).deleteChannel),
		"AddTags":       writeOp(tagResource[ctapi.AddTagsRequest], (*Server).addTags),
		"RemoveTags":    writeOp(tagResource[ctapi.RemoveTagsRequest], (*Server).removeTags),
		"ListTags":      readOp(anyResource[ctapi.ListTagsRequest], (*Server).listTags),

		"CreateTrail":       writeOp(func(r *request, in *ctapi.CreateTrailRequest) string { return trailResource(r, in.Name) }, (*Server).createTrail),
		"UpdateTrail":       writeOp(func(r *request, in *ctapi.UpdateTrailRequest) string { return trailResource(r, in.Name) }, (*Server).updateTrail),
		"DeleteTrail":       writeOp(func(r *request, in *ctapi.DeleteTrailRequest) string { return trailResource(r, in.Name) }, (*Server).deleteTrail),
		"StartLogging":      writeOp(func(r *request, in *ctapi.StartLoggingRequest) string { return trailResource(r, in.Name) }, (*Server).startLogging),
		"StopLogging":       writeOp(func(r *request, in *ctapi.StopLoggingRequest) string { return trailResource(r, in.Name) }, (*Server).stopLogging),
		"GetTrail":          readOp(func(r *request, in *ctapi.GetTrailRequest) string { return trailResource(r, in.Name) }, (*Server).getTrail),
		"GetTrailStatus":    readOp(func(r *request, in *ctapi.GetTrailStatusRequest) string { return trailResource(r, in.Name) }, (*Server).getTrailStatus),
		"DescribeTrails":    readOp(anyResource[ctapi.DescribeTrailsRequest], (*Server).describeTrails),
		"ListTrails":        readOp(anyResource[ctapi.ListTrailsRequest], (*Server).listTrails),
		"ListPublicKeys":    readOp(anyResource[ctapi.ListPublicKeysRequest], (*Server).listPublicKeys),
		"PutEventSelectors": writeOp(func(r *request, in *ctapi.PutEventSelectorsRequest) string { return trailResource(r, in.TrailName) }, (*Server).putEventSelectors),
		"GetEventSelectors": readOp(func(r *request, in *ctapi.GetEventSelectorsRequest) string { return trailResource(r, in.TrailName) }, (*Server).getEventSelectors),
	}
}

// readOnlyOps are the operations AWS records with readOnly true.
func isReadOnly(op string) bool {
	for _, p := range []string{"Get", "List", "Describe", "Lookup", "Search"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// operationName is the operation an X-Amz-Target names, or "" if none.
func operationName(target string) string {
	name, err := ctapi.Operation(target)
	if err != nil {
		return ""
	}
	return name
}

func (s *Server) serveCloudTrail(w http.ResponseWriter, req *request) {
	ctx := req.r.Context()
	if req.r.Method != http.MethodPost {
		s.writeError(w, req, protoJSON, opentrail.Errorf(opentrail.CodeUnknownOperation,
			"CloudTrail takes POST requests to / with an X-Amz-Target header, not %s %s", req.r.Method, req.r.URL.Path))
		return
	}
	name, err := ctapi.Operation(req.r.Header.Get("X-Amz-Target"))
	if err != nil {
		s.writeError(w, req, protoJSON, err)
		return
	}
	req.op = name
	readOnly := isReadOnly(name)
	params := ctapi.RequestParameters(name, req.body)
	h, ok := cloudtrailOps[name]
	if !ok {
		err := opentrail.Errorf(opentrail.CodeUnsupportedOp, "opentrail does not support %s yet.", name)
		s.recordOutcome(ctx, req, outcome{readOnly: readOnly, params: params, err: err})
		s.writeError(w, req, protoJSON, err)
		return
	}
	var out any
	if h.read != nil {
		out, err = h.read(s, ctx, req, req.body)
		o := outcome{readOnly: readOnly, params: params, err: err, lookup: name == "LookupEvents"}
		if rerr := s.recordOutcome(ctx, req, o); rerr != nil && err == nil {
			err = rerr
		}
	} else {
		var seq int64
		err = s.db.Update(context.WithoutCancel(ctx), func(tx *journal.Tx) error {
			var err error
			out, err = h.write(s, tx, req, req.body)
			if err != nil {
				return err
			}
			e, err := s.entry(req, s.event(req, outcome{params: params, response: ctapi.ResponseElements(name, out)}))
			if err != nil {
				return err
			}
			seq, err = tx.Append(e)
			return err
		})
		if err == nil {
			s.committed(seq)
		}
		if err != nil {
			// The failed call's changes were undone; record the failure.
			s.recordOutcome(ctx, req, outcome{params: params, err: err})
		}
	}
	if err != nil {
		s.writeError(w, req, protoJSON, err)
		return
	}
	var body []byte
	if lr, ok := out.(*ctapi.LookupEventsResponse); ok {
		body = appendLookupResponse(make([]byte, 0, 64<<10), lr)
	} else if body, err = json.Marshal(out); err != nil {
		s.writeError(w, req, protoJSON, err)
		return
	}
	writeJSON(w, protoJSON, body)
}

// recordOutcome records a call; a failure to record a failed call is only
// logged (the client gets the call's own error).
func (s *Server) recordOutcome(ctx context.Context, req *request, o outcome) error {
	err := s.record(ctx, req, o)
	if err != nil && o.err != nil {
		s.log.Error("record failed call", "request_id", req.id, "err", err.Error())
		return nil
	}
	return err
}

// ptr returns a pointer to v, for the optional members of wire types.
func ptr[T any](v T) *T { return &v }

// deref returns *p, or the zero value when p is nil.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
