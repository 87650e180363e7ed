package history

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// The key of an event's unfiltered row holds, as its value, the event's
// summary and its record (as the journal stores it), so that lookups answer
// from the index alone, without parsing the records they return.

// encodeValue is the value of an event's unfiltered key.
func encodeValue(s *opentrail.Summary, body []byte) []byte {
	sum := encodeSummary(s)
	v := make([]byte, 0, binary.MaxVarintLen64+len(sum)+len(body))
	v = binary.AppendUvarint(v, uint64(len(sum)))
	v = append(v, sum...)
	return append(v, body...)
}

// decodeValue splits a value made by encodeValue.
func decodeValue(v []byte) (opentrail.Summary, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return opentrail.Summary{}, nil, errSummary
	}
	s, err := decodeSummary(v[k : k+int(n)])
	if err != nil {
		return s, nil, err
	}
	body, err := journal.DecodeBody(v[k+int(n):])
	return s, body, err
}

const summaryVersion = 2

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeSummary(s *opentrail.Summary) []byte {
	b := make([]byte, 0, 160)
	b = append(b, summaryVersion)
	for _, v := range []string{s.EventID, s.EventName, s.EventSource, s.EventType, s.Category, s.Region,
		s.RecipientAccountID, s.AccessKeyID, s.Username, s.UserARN, s.ErrorCode, s.SessionCredentialFromConsole, s.VPCEndpointID} {
		b = appendString(b, v)
	}
	b = binary.AppendVarint(b, s.Time.Unix())
	switch {
	case s.ReadOnly == nil:
		b = append(b, 2)
	case *s.ReadOnly:
		b = append(b, 1)
	default:
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Resources)))
	for _, r := range s.Resources {
		b = appendString(appendString(b, r.Type), r.Name)
	}
	b = binary.AppendUvarint(b, uint64(len(s.RecordResources)))
	for _, r := range s.RecordResources {
		b = appendString(appendString(appendString(appendString(b, r.AccountID), r.Type), r.ARN), r.ARNPrefix)
	}
	return b
}

var errSummary = errors.New("history: corrupt summary")

func decodeSummary(b []byte) (opentrail.Summary, error) {
	var s opentrail.Summary
	if len(b) == 0 || b[0] < 1 || b[0] > summaryVersion {
		return s, errSummary
	}
	version := b[0]
	b = b[1:]
	str := func() string {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			b = nil
			return ""
		}
		v := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return v
	}
	fields := []*string{&s.EventID, &s.EventName, &s.EventSource, &s.EventType, &s.Category, &s.Region,
		&s.RecipientAccountID, &s.AccessKeyID, &s.Username, &s.UserARN, &s.ErrorCode, &s.SessionCredentialFromConsole, &s.VPCEndpointID}
	if version == 1 {
		fields = fields[:9] // version 1 had no selector fields
	}
	for _, p := range fields {
		*p = str()
	}
	t, k := binary.Varint(b)
	if k <= 0 || len(b) < k+1 {
		return s, errSummary
	}
	s.Time = time.Unix(t, 0).UTC()
	switch b[k] {
	case 0, 1:
		ro := b[k] == 1
		s.ReadOnly = &ro
	}
	b = b[k+1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return s, errSummary
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		typ := str()
		name := str()
		if b == nil {
			return s, errSummary
		}
		s.Resources = append(s.Resources, opentrail.LookupResource{Type: typ, Name: name})
	}
	if version == 1 {
		return s, nil
	}
	n, k = binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return s, errSummary
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		var r opentrail.Resource
		r.AccountID, r.Type, r.ARN, r.ARNPrefix = str(), str(), str(), str()
		if b == nil {
			return s, errSummary
		}
		s.RecordResources = append(s.RecordResources, r)
	}
	return s, nil
}
