package api

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/journal"
)

// maxTags is the number of tags a resource may carry.
const maxTags = 50

func channelResourceOfCreate(req *request, in *ctapi.CreateChannelRequest) string {
	return opentrail.ChannelARN(req.region, req.principal.AccountID, "*")
}

// channelResource is the ARN a channel operation acts on, for authorization.
func channelResource[In interface {
	ctapi.GetChannelRequest | ctapi.UpdateChannelRequest | ctapi.DeleteChannelRequest
}](req *request, in *In) string {
	var ref string
	switch v := any(in).(type) {
	case *ctapi.GetChannelRequest:
		ref = deref(v.Channel)
	case *ctapi.UpdateChannelRequest:
		ref = deref(v.Channel)
	case *ctapi.DeleteChannelRequest:
		ref = deref(v.Channel)
	}
	id, region, account, ok := opentrail.ParseChannelID(ref)
	if !ok {
		return "*"
	}
	if account == "" {
		region, account = req.region, req.principal.AccountID
	}
	return opentrail.ChannelARN(region, account, id)
}

// findChannel resolves a channel ARN or ID of the caller's account and region.
func findChannel(ctx context.Context, s *Server, tx *journal.Tx, req *request, ref string) (*opentrail.Channel, error) {
	id, region, account, ok := opentrail.ParseChannelID(ref)
	if !ok {
		return nil, opentrail.Errorf("ChannelARNInvalidException",
			"%q is not a channel ARN (arn:aws:cloudtrail:<region>:<account>:channel/<id>) or channel ID.", ref)
	}
	notFound := opentrail.Errorf("ChannelNotFoundException", "Channel %s not found.", ref)
	if (region != "" && region != req.region) || (account != "" && account != req.principal.AccountID) {
		return nil, notFound
	}
	var c *opentrail.Channel
	var err error
	if tx != nil {
		c, err = tx.Channel(id)
	} else {
		c, err = s.cachedChannel(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	if c == nil || c.Account != req.principal.AccountID || c.Region != req.region {
		return nil, notFound
	}
	return c, nil
}

// cachedChannel reads a channel, from memory when it was read in the last
// few seconds (PutAuditEvents looks its channel up on every call). Changes
// made through this server drop the cached copy when they commit.
func (s *Server) cachedChannel(ctx context.Context, id string) (*opentrail.Channel, error) {
	type cached struct {
		c       *opentrail.Channel
		fetched time.Time
	}
	if v, ok := s.channels.Load(id); ok {
		if e := v.(cached); s.now().Sub(e.fetched) < 5*time.Second {
			return e.c, nil
		}
	}
	c, err := s.db.Channel(ctx, id)
	if err != nil {
		return nil, err
	}
	s.channels.Store(id, cached{c, s.now()})
	return c, nil
}

// checkDestinations validates channel destinations.
func (s *Server) checkDestinations(tx *journal.Tx, req *request, dests []ctapi.Destination) ([]opentrail.Destination, error) {
	if len(dests) == 0 {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "A channel needs at least one destination.")
	}
	var out []opentrail.Destination
	seen := map[opentrail.Destination]bool{}
	for _, d := range dests {
		od := opentrail.Destination{Type: string(deref(d.Type)), Location: deref(d.Location)}
		switch od.Type {
		case opentrail.DestinationAWSService:
			if od.Location != opentrail.HistoryLocation {
				return nil, opentrail.Errorf(opentrail.CodeInvalidParameter,
					"AWS_SERVICE destination %q is not one opentrail knows: use %q to send the channel's events to the account's event history and trails.",
					od.Location, opentrail.HistoryLocation)
			}
		case opentrail.DestinationEventDataStore:
			arn, err := s.storeDestination(tx, req, od.Location)
			if err != nil {
				return nil, err
			}
			od.Location = arn
		default:
			return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "Destination type %q is not EVENT_DATA_STORE or AWS_SERVICE.", od.Type)
		}
		if !seen[od] {
			seen[od] = true
			out = append(out, od)
		}
	}
	return out, nil
}

func wireDestinations(ds []opentrail.Destination) []ctapi.Destination {
	out := make([]ctapi.Destination, 0, len(ds))
	for _, d := range ds {
		out = append(out, ctapi.Destination{Type: ptr(ctapi.DestinationType(d.Type)), Location: ptr(d.Location)})
	}
	return out
}

func checkTags(tags []ctapi.Tag) ([]opentrail.Tag, error) {
	var out []opentrail.Tag
	for _, t := range tags {
		k := deref(t.Key)
		if k == "" || len(k) > 128 || len(deref(t.Value)) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, opentrail.Errorf("InvalidTagParameterException",
				"Tag key %q is not valid: keys are 1 to 128 characters, values at most 256, and keys may not start with aws:.", k)
		}
		out = append(out, opentrail.Tag{Key: k, Value: deref(t.Value)})
	}
	if len(out) > maxTags {
		return nil, opentrail.Errorf("TagsLimitExceededException", "A resource can have at most %d tags.", maxTags)
	}
	return out, nil
}

func wireTags(tags []opentrail.Tag) []ctapi.Tag {
	out := make([]ctapi.Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, ctapi.Tag{Key: ptr(t.Key), Value: ptr(t.Value)})
	}
	return out
}

func (s *Server) createChannel(tx *journal.Tx, req *request, in *ctapi.CreateChannelRequest) (any, error) {
	name, source := deref(in.Name), deref(in.Source)
	if !opentrail.ValidChannelName(name) {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter,
			"Channel name %q is not valid: use 3 to 128 letters, digits, periods, underscores and hyphens.", name)
	}
	if source == "" || len(source) > 256 {
		return nil, opentrail.Errorf("InvalidSourceException", "Source must be Custom or the name of a partner source.")
	}
	dests, err := s.checkDestinations(tx, req, in.Destinations)
	if err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	existing, err := tx.Channels(req.principal.AccountID, req.region)
	if err != nil {
		return nil, err
	}
	for _, c := range existing {
		if c.Name == name {
			return nil, opentrail.Errorf("ChannelAlreadyExistsException", "A channel named %s already exists.", name)
		}
		if source != opentrail.SourceCustom && c.Source == source {
			return nil, opentrail.Errorf("ChannelAlreadyExistsException", "The channel %s already uses source %s: a partner source has one channel.", c.ARN(), source)
		}
	}
	if len(existing) >= opentrail.MaxChannels {
		return nil, opentrail.Errorf("ChannelMaxLimitExceededException",
			"This account already has %d channels in %s, the most allowed.", opentrail.MaxChannels, req.region)
	}
	c := &opentrail.Channel{
		ID:           uuid.NewString(),
		Account:      req.principal.AccountID,
		Region:       req.region,
		Name:         name,
		Source:       source,
		Destinations: dests,
		Created:      s.now(),
	}
	if err := tx.PutChannel(c); err != nil {
		return nil, err
	}
	if err := tx.PutTags(c.ARN(), tags); err != nil {
		return nil, err
	}
	return &ctapi.CreateChannelResponse{
		ChannelArn:   ptr(c.ARN()),
		Name:         ptr(c.Name),
		Source:       ptr(c.Source),
		Destinations: wireDestinations(c.Destinations),
		Tags:         wireTags(tags),
	}, nil
}

func (s *Server) getChannel(ctx context.Context, req *request, in *ctapi.GetChannelRequest) (any, error) {
	c, err := findChannel(ctx, s, nil, req, deref(in.Channel))
	if err != nil {
		return nil, err
	}
	out := &ctapi.GetChannelResponse{
		ChannelArn:   ptr(c.ARN()),
		Name:         ptr(c.Name),
		Source:       ptr(c.Source),
		Destinations: wireDestinations(c.Destinations),
		SourceConfig: &ctapi.SourceConfig{
			ApplyToAllRegions: ptr(false),
			AdvancedEventSelectors: []ctapi.AdvancedEventSelector{{
				FieldSelectors: []ctapi.AdvancedFieldSelector{{Field: ptr("eventCategory"), Equals: []string{opentrail.CategoryActivityAuditLog}}},
			}},
		},
		IngestionStatus: &ctapi.IngestionStatus{},
	}
	st := c.Ingestion
	if !st.LatestSuccessTime.IsZero() {
		out.IngestionStatus.LatestIngestionSuccessTime = ctapi.NewTimestamp(st.LatestSuccessTime)
		out.IngestionStatus.LatestIngestionSuccessEventID = ptr(st.LatestSuccessEventID)
	}
	if !st.LatestAttemptTime.IsZero() {
		out.IngestionStatus.LatestIngestionAttemptTime = ctapi.NewTimestamp(st.LatestAttemptTime)
		out.IngestionStatus.LatestIngestionAttemptEventID = ptr(st.LatestAttemptEventID)
	}
	if st.LatestErrorCode != "" {
		out.IngestionStatus.LatestIngestionErrorCode = ptr(st.LatestErrorCode)
	}
	return out, nil
}

func (s *Server) listChannels(ctx context.Context, req *request, in *ctapi.ListChannelsRequest) (any, error) {
	limit := 1000
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	chans, err := s.db.Channels(ctx, req.principal.AccountID, req.region)
	if err != nil {
		return nil, err
	}
	start, err := pageStart(in.NextToken, "channels", "ListChannels", len(chans))
	if err != nil {
		return nil, err
	}
	out := &ctapi.ListChannelsResponse{Channels: []ctapi.Channel{}}
	for i := start; i < len(chans) && len(out.Channels) < limit; i++ {
		out.Channels = append(out.Channels, ctapi.Channel{ChannelArn: ptr(chans[i].ARN()), Name: ptr(chans[i].Name)})
	}
	out.NextToken = nextPage("channels", start+len(out.Channels), len(chans))
	return out, nil
}

func (s *Server) updateChannel(tx *journal.Tx, req *request, in *ctapi.UpdateChannelRequest) (any, error) {
	c, err := findChannel(context.Background(), s, tx, req, deref(in.Channel))
	if err != nil {
		return nil, err
	}
	if in.Name != nil {
		name := *in.Name
		if !opentrail.ValidChannelName(name) {
			return nil, opentrail.Errorf(opentrail.CodeInvalidParameter,
				"Channel name %q is not valid: use 3 to 128 letters, digits, periods, underscores and hyphens.", name)
		}
		others, err := tx.Channels(req.principal.AccountID, req.region)
		if err != nil {
			return nil, err
		}
		for _, o := range others {
			if o.Name == name && o.ID != c.ID {
				return nil, opentrail.Errorf("ChannelAlreadyExistsException", "A channel named %s already exists.", name)
			}
		}
		c.Name = name
	}
	if in.Destinations != nil {
		if c.Destinations, err = s.checkDestinations(tx, req, in.Destinations); err != nil {
			return nil, err
		}
	}
	if err := tx.PutChannel(c); err != nil {
		return nil, err
	}
	s.channels.Delete(c.ID)
	return &ctapi.UpdateChannelResponse{
		ChannelArn:   ptr(c.ARN()),
		Name:         ptr(c.Name),
		Source:       ptr(c.Source),
		Destinations: wireDestinations(c.Destinations),
	}, nil
}

func (s *Server) deleteChannel(tx *journal.Tx, req *request, in *ctapi.DeleteChannelRequest) (any, error) {
	c, err := findChannel(context.Background(), s, tx, req, deref(in.Channel))
	if err != nil {
		return nil, err
	}
	if err := tx.DeleteChannel(c); err != nil {
		return nil, err
	}
	s.channels.Delete(c.ID)
	return &ctapi.DeleteChannelResponse{}, nil
}

// Tags of channels and trails (event data stores join them with Lake).

func tagResource[In interface {
	ctapi.AddTagsRequest | ctapi.RemoveTagsRequest
}](req *request, in *In) string {
	switch v := any(in).(type) {
	case *ctapi.AddTagsRequest:
		return deref(v.ResourceId)
	case *ctapi.RemoveTagsRequest:
		return deref(v.ResourceId)
	}
	return "*"
}

// taggable resolves a resource ID of AddTags, RemoveTags or ListTags to the
// ARN its tags are stored under.
func (s *Server) taggable(ctx context.Context, tx *journal.Tx, req *request, ref string) (string, error) {
	a, ok := opentrail.ParseARN(ref)
	if !ok || a.Service != "cloudtrail" {
		return "", opentrail.Errorf("CloudTrailARNInvalidException", "%q is not the ARN of a CloudTrail resource.", ref)
	}
	switch {
	case strings.HasPrefix(a.Resource, "channel/"):
		c, err := findChannel(ctx, s, tx, req, ref)
		if err != nil {
			return "", err
		}
		return c.ARN(), nil
	case strings.HasPrefix(a.Resource, "trail/"):
		t, err := s.findTrail(ctx, tx, req, ref)
		if err != nil {
			return "", err
		}
		return t.ARN(), nil
	case strings.HasPrefix(a.Resource, "eventdatastore/"):
		return s.storeTaggable(ctx, tx, req, ref)
	}
	return "", opentrail.Errorf("ResourceTypeNotSupportedException", "Resource %s is not a trail, event data store or channel.", ref)
}

func (s *Server) addTags(tx *journal.Tx, req *request, in *ctapi.AddTagsRequest) (any, error) {
	arn, err := s.taggable(context.Background(), tx, req, deref(in.ResourceId))
	if err != nil {
		return nil, err
	}
	tags, err := checkTags(in.TagsList)
	if err != nil {
		return nil, err
	}
	n, err := tx.CountTags(arn)
	if err != nil {
		return nil, err
	}
	if n+len(tags) > maxTags {
		return nil, opentrail.Errorf("TagsLimitExceededException", "A resource can have at most %d tags; %s has %d.", maxTags, arn, n)
	}
	if err := tx.PutTags(arn, tags); err != nil {
		return nil, err
	}
	return &ctapi.AddTagsResponse{}, nil
}

func (s *Server) removeTags(tx *journal.Tx, req *request, in *ctapi.RemoveTagsRequest) (any, error) {
	arn, err := s.taggable(context.Background(), tx, req, deref(in.ResourceId))
	if err != nil {
		return nil, err
	}
	var tags []opentrail.Tag
	for _, t := range in.TagsList {
		tags = append(tags, opentrail.Tag{Key: deref(t.Key), Value: deref(t.Value)})
	}
	if err := tx.RemoveTags(arn, tags); err != nil {
		return nil, err
	}
	return &ctapi.RemoveTagsResponse{}, nil
}

func (s *Server) listTags(ctx context.Context, req *request, in *ctapi.ListTagsRequest) (any, error) {
	out := &ctapi.ListTagsResponse{ResourceTagList: []ctapi.ResourceTag{}}
	for _, ref := range in.ResourceIdList {
		arn, err := s.taggable(ctx, nil, req, ref)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, req, "cloudtrail:ListTags", arn); err != nil {
			return nil, err
		}
		tags, err := s.db.Tags(ctx, arn)
		if err != nil {
			return nil, err
		}
		out.ResourceTagList = append(out.ResourceTagList, ctapi.ResourceTag{ResourceId: ptr(ref), TagsList: wireTags(tags)})
	}
	return out, nil
}
