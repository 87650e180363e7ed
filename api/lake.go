package api

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/api/ctapi"
	"github.com/opentrail/opentrail/journal"
	"github.com/opentrail/opentrail/lakeingest"
)

// CloudTrail Lake: event data stores. Their state lives in the journal
// database (package lakeingest), their events in the lake (package lake).

func init() {
	for name, o := range map[string]op{
		"CreateEventDataStore": writeOp(func(r *request, in *ctapi.CreateEventDataStoreRequest) string { return storeResource(r, nil) }, (*Server).createEventDataStore),
		"GetEventDataStore": readOp(func(r *request, in *ctapi.GetEventDataStoreRequest) string {
			return storeResource(r, in.EventDataStore)
		}, (*Server).getEventDataStore),
		"ListEventDataStores": readOp(anyResource[ctapi.ListEventDataStoresRequest], (*Server).listEventDataStores),
		"UpdateEventDataStore": writeOp(func(r *request, in *ctapi.UpdateEventDataStoreRequest) string {
			return storeResource(r, in.EventDataStore)
		}, (*Server).updateEventDataStore),
		"DeleteEventDataStore": writeOp(func(r *request, in *ctapi.DeleteEventDataStoreRequest) string {
			return storeResource(r, in.EventDataStore)
		}, (*Server).deleteEventDataStore),
		"RestoreEventDataStore": writeOp(func(r *request, in *ctapi.RestoreEventDataStoreRequest) string {
			return storeResource(r, in.EventDataStore)
		}, (*Server).restoreEventDataStore),
		"StartEventDataStoreIngestion": writeOp(func(r *request, in *ctapi.StartEventDataStoreIngestionRequest) string {
			return storeResource(r, in.EventDataStore)
		}, (*Server).startIngestion),
		"StopEventDataStoreIngestion": writeOp(func(r *request, in *ctapi.StopEventDataStoreIngestionRequest) string {
			return storeResource(r, in.EventDataStore)
		}, (*Server).stopIngestion),
	} {
		cloudtrailOps[name] = o
	}
}

// storeResource is the ARN an event data store operation acts on, for
// authorization ("*" for the stores of the account in the region when ref
// is nil or not a store reference).
func storeResource(req *request, ref *string) string {
	id, region, account, ok := lakeingest.ParseStoreRef(deref(ref))
	if !ok {
		return lakeingest.StoreARN(req.region, req.principal.AccountID, "*")
	}
	if account == "" {
		region, account = req.region, req.principal.AccountID
	}
	return lakeingest.StoreARN(region, account, id)
}

func storeNotFound(ref string) error {
	return opentrail.Errorf("EventDataStoreNotFoundException", "The specified event data store %s was not found.", ref)
}

// findStore resolves an event data store ARN or ID of the caller's account
// and region. tx may be nil.
func (s *Server) findStore(ctx context.Context, tx *journal.Tx, req *request, ref string) (*lakeingest.Store, error) {
	id, region, account, ok := lakeingest.ParseStoreRef(ref)
	if !ok {
		return nil, opentrail.Errorf("EventDataStoreARNInvalidException",
			"%q is not an event data store ARN (arn:aws:cloudtrail:<region>:<account>:eventdatastore/<id>) or ID.", ref)
	}
	if (region != "" && region != req.region) || (account != "" && account != req.principal.AccountID) {
		return nil, storeNotFound(ref)
	}
	var st *lakeingest.Store
	var err error
	if tx != nil {
		st, err = lakeingest.TxStore(tx, id)
	} else {
		st, err = lakeingest.GetStore(ctx, s.db, id)
	}
	if err != nil {
		return nil, err
	}
	if st == nil || st.Account != req.principal.AccountID || st.Region != req.region {
		return nil, storeNotFound(ref)
	}
	return st, nil
}

// activeStore is findStore for operations a store pending deletion refuses.
func (s *Server) activeStore(ctx context.Context, tx *journal.Tx, req *request, ref string) (*lakeingest.Store, error) {
	st, err := s.findStore(ctx, tx, req, ref)
	if err != nil {
		return nil, err
	}
	if st.Status == lakeingest.StatusPendingDeletion {
		return nil, opentrail.Errorf("InvalidEventDataStoreStatusException",
			"Event data store %s is pending deletion: restore it first (RestoreEventDataStore).", st.ARN())
	}
	return st, nil
}

func (s *Server) lakeConfigured() error {
	if s.cfg.Lake == nil {
		return opentrail.Errorf(opentrail.CodeUnsupportedOp, "CloudTrail Lake is not configured on this server.")
	}
	return nil
}

// defaultStoreSelectors is what a store created without selectors gets.
func defaultStoreSelectors() []opentrail.AdvancedEventSelector {
	return []opentrail.AdvancedEventSelector{{Name: "Default management events",
		FieldSelectors: []opentrail.FieldSelector{{Field: "eventCategory", Equals: []string{opentrail.CategoryManagement}}}}}
}

func refuseStoreKMS(ref *string) error {
	if ref != nil {
		return opentrail.Errorf(opentrail.CodeUnsupportedOp,
			"opentrail does not encrypt event data stores with KMS keys: remove KmsKeyId (%s) from the request.", *ref)
	}
	return nil
}

// checkRetention validates a retention period for a billing mode.
func checkRetention(days int, mode string) error {
	limit := 3653
	if mode == lakeingest.BillingFixed {
		limit = 2557
	}
	if days < 7 || days > limit {
		return opentrail.Errorf(opentrail.CodeInvalidParameter,
			"RetentionPeriod must be between 7 and %d days for billing mode %s; got %d.", limit, mode, days)
	}
	return nil
}

func checkStoreName(name string) error {
	if !opentrail.ValidChannelName(name) {
		return opentrail.Errorf(opentrail.CodeInvalidParameter,
			"Event data store name %q is not valid: use 3 to 128 letters, digits, periods, underscores and hyphens.", name)
	}
	return nil
}

func checkStoreSelectors(in []ctapi.AdvancedEventSelector) ([]opentrail.AdvancedEventSelector, error) {
	sels := fromWireAdvanced(in)
	if err := opentrail.ValidateStoreSelectors(sels); err != nil {
		return nil, err
	}
	return sels, nil
}

func (s *Server) createEventDataStore(tx *journal.Tx, req *request, in *ctapi.CreateEventDataStoreRequest) (any, error) {
	if err := s.lakeConfigured(); err != nil {
		return nil, err
	}
	name := deref(in.Name)
	if err := checkStoreName(name); err != nil {
		return nil, err
	}
	if err := refuseStoreKMS(in.KmsKeyId); err != nil {
		return nil, err
	}
	if deref(in.OrganizationEnabled) {
		return nil, opentrail.Errorf("OrganizationsNotInUseException", "This account is not in an organization: opentrail has no organizations.")
	}
	st := &lakeingest.Store{
		ID:                    uuid.NewString(),
		Account:               req.principal.AccountID,
		Region:                req.region,
		Name:                  name,
		Status:                lakeingest.StatusEnabled,
		MultiRegion:           in.MultiRegionEnabled == nil || *in.MultiRegionEnabled,
		TerminationProtection: in.TerminationProtectionEnabled == nil || *in.TerminationProtectionEnabled,
		BillingMode:           lakeingest.BillingExtendable,
		Retention:             366,
		Created:               s.now().UTC(),
	}
	st.Updated = st.Created
	if in.BillingMode != nil {
		st.BillingMode = string(*in.BillingMode)
		if st.BillingMode == lakeingest.BillingFixed {
			st.Retention = 2557
		}
	}
	if in.RetentionPeriod != nil {
		st.Retention = int(*in.RetentionPeriod)
	}
	if err := checkRetention(st.Retention, st.BillingMode); err != nil {
		return nil, err
	}
	var err error
	if st.Selectors, err = checkStoreSelectors(in.AdvancedEventSelectors); err != nil {
		return nil, err
	}
	if len(st.Selectors) == 0 {
		st.Selectors = defaultStoreSelectors()
	}
	if in.StartIngestion != nil && !*in.StartIngestion {
		st.Status = lakeingest.StatusStopped
	}
	tags, err := checkTags(in.TagsList)
	if err != nil {
		return nil, err
	}
	existing, err := lakeingest.TxStores(tx, st.Account, st.Region)
	if err != nil {
		return nil, err
	}
	for _, o := range existing {
		if o.Name == name {
			return nil, opentrail.Errorf("EventDataStoreAlreadyExistsException", "An event data store named %s already exists: %s.", name, o.ARN())
		}
	}
	if len(existing) >= lakeingest.MaxStores {
		return nil, opentrail.Errorf("EventDataStoreMaxLimitExceededException",
			"This account already has %d event data stores in %s (stores pending deletion count), the most allowed.", lakeingest.MaxStores, st.Region)
	}
	if err := lakeingest.PutStore(tx, st, true); err != nil {
		return nil, err
	}
	if err := tx.PutTags(st.ARN(), tags); err != nil {
		return nil, err
	}
	// The store's table exists before the call returns, so it can be
	// queried at once. Creating it is idempotent: should this transaction
	// fail, the empty table is never referenced.
	if err := s.cfg.Lake.CreateStore(context.Background(), st.ID); err != nil {
		return nil, err
	}
	out := &ctapi.CreateEventDataStoreResponse{TagsList: wireTags(tags)}
	w := wireStore(st)
	out.EventDataStoreArn, out.Name, out.AdvancedEventSelectors = w.EventDataStoreArn, w.Name, w.AdvancedEventSelectors
	out.MultiRegionEnabled, out.OrganizationEnabled, out.RetentionPeriod = w.MultiRegionEnabled, w.OrganizationEnabled, w.RetentionPeriod
	out.TerminationProtectionEnabled, out.CreatedTimestamp, out.UpdatedTimestamp = w.TerminationProtectionEnabled, w.CreatedTimestamp, w.UpdatedTimestamp
	out.BillingMode = w.BillingMode
	out.Status = ptr(ctapi.EventDataStoreStatus(lakeingest.StatusCreated))
	if st.Status == lakeingest.StatusStopped {
		out.Status = ptr(ctapi.EventDataStoreStatus(st.Status))
	}
	return out, nil
}

// wireStore is the full shape of a store (GetEventDataStore).
func wireStore(st *lakeingest.Store) *ctapi.GetEventDataStoreResponse {
	return &ctapi.GetEventDataStoreResponse{
		EventDataStoreArn:            ptr(st.ARN()),
		Name:                         ptr(st.Name),
		Status:                       ptr(ctapi.EventDataStoreStatus(st.Status)),
		AdvancedEventSelectors:       toWireAdvanced(st.Selectors),
		MultiRegionEnabled:           ptr(st.MultiRegion),
		OrganizationEnabled:          ptr(st.Organization),
		RetentionPeriod:              ptr(int32(st.Retention)),
		TerminationProtectionEnabled: ptr(st.TerminationProtection),
		CreatedTimestamp:             ctapi.NewTimestamp(st.Created),
		UpdatedTimestamp:             ctapi.NewTimestamp(st.Updated),
		BillingMode:                  ptr(ctapi.BillingMode(st.BillingMode)),
		FederationStatus:             ptr(ctapi.FederationStatus("DISABLED")),
	}
}

func (s *Server) getEventDataStore(ctx context.Context, req *request, in *ctapi.GetEventDataStoreRequest) (any, error) {
	st, err := s.findStore(ctx, nil, req, deref(in.EventDataStore))
	if err != nil {
		return nil, err
	}
	return wireStore(st), nil
}

func (s *Server) listEventDataStores(ctx context.Context, req *request, in *ctapi.ListEventDataStoresRequest) (any, error) {
	limit := 1000
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	stores, err := lakeingest.Stores(ctx, s.db, req.principal.AccountID, req.region)
	if err != nil {
		return nil, err
	}
	start, err := pageStart(in.NextToken, "eds", "ListEventDataStores", len(stores))
	if err != nil {
		return nil, err
	}
	out := &ctapi.ListEventDataStoresResponse{EventDataStores: []ctapi.EventDataStore{}}
	for i := start; i < len(stores) && len(out.EventDataStores) < limit; i++ {
		w := wireStore(stores[i])
		out.EventDataStores = append(out.EventDataStores, ctapi.EventDataStore{
			EventDataStoreArn: w.EventDataStoreArn, Name: w.Name, TerminationProtectionEnabled: w.TerminationProtectionEnabled,
			Status: w.Status, AdvancedEventSelectors: w.AdvancedEventSelectors, MultiRegionEnabled: w.MultiRegionEnabled,
			OrganizationEnabled: w.OrganizationEnabled, RetentionPeriod: w.RetentionPeriod,
			CreatedTimestamp: w.CreatedTimestamp, UpdatedTimestamp: w.UpdatedTimestamp,
		})
	}
	out.NextToken = nextPage("eds", start+len(out.EventDataStores), len(stores))
	return out, nil
}

func (s *Server) updateEventDataStore(tx *journal.Tx, req *request, in *ctapi.UpdateEventDataStoreRequest) (any, error) {
	st, err := s.activeStore(context.Background(), tx, req, deref(in.EventDataStore))
	if err != nil {
		return nil, err
	}
	if err := refuseOngoingImport(tx, st); err != nil {
		return nil, err
	}
	if in.Name == nil && in.AdvancedEventSelectors == nil && in.MultiRegionEnabled == nil && in.OrganizationEnabled == nil &&
		in.RetentionPeriod == nil && in.TerminationProtectionEnabled == nil && in.KmsKeyId == nil && in.BillingMode == nil {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "UpdateEventDataStore needs at least one setting to change besides EventDataStore.")
	}
	if err := refuseStoreKMS(in.KmsKeyId); err != nil {
		return nil, err
	}
	if deref(in.OrganizationEnabled) {
		return nil, opentrail.Errorf("OrganizationsNotInUseException", "This account is not in an organization: opentrail has no organizations.")
	}
	if in.Name != nil && *in.Name != st.Name {
		if err := checkStoreName(*in.Name); err != nil {
			return nil, err
		}
		others, err := lakeingest.TxStores(tx, st.Account, st.Region)
		if err != nil {
			return nil, err
		}
		for _, o := range others {
			if o.Name == *in.Name && o.ID != st.ID {
				return nil, opentrail.Errorf("EventDataStoreAlreadyExistsException", "An event data store named %s already exists: %s.", o.Name, o.ARN())
			}
		}
		st.Name = *in.Name
	}
	if in.BillingMode != nil {
		mode := string(*in.BillingMode)
		if st.BillingMode == lakeingest.BillingExtendable && mode == lakeingest.BillingFixed {
			return nil, opentrail.Errorf(opentrail.CodeInvalidParameter,
				"The billing mode of an event data store cannot change from EXTENDABLE_RETENTION_PRICING to FIXED_RETENTION_PRICING.")
		}
		st.BillingMode = mode
	}
	if in.RetentionPeriod != nil {
		st.Retention = int(*in.RetentionPeriod)
	}
	if err := checkRetention(st.Retention, st.BillingMode); err != nil {
		return nil, err
	}
	if in.AdvancedEventSelectors != nil {
		sels, err := checkStoreSelectors(in.AdvancedEventSelectors)
		if err != nil {
			return nil, err
		}
		if len(sels) == 0 {
			sels = defaultStoreSelectors()
		}
		st.Selectors = sels
	}
	if in.MultiRegionEnabled != nil {
		st.MultiRegion = *in.MultiRegionEnabled
	}
	if in.TerminationProtectionEnabled != nil {
		st.TerminationProtection = *in.TerminationProtectionEnabled
	}
	st.Updated = s.now().UTC()
	if err := lakeingest.PutStore(tx, st, false); err != nil {
		return nil, err
	}
	w := wireStore(st)
	return &ctapi.UpdateEventDataStoreResponse{
		EventDataStoreArn: w.EventDataStoreArn, Name: w.Name, Status: w.Status, AdvancedEventSelectors: w.AdvancedEventSelectors,
		MultiRegionEnabled: w.MultiRegionEnabled, OrganizationEnabled: w.OrganizationEnabled, RetentionPeriod: w.RetentionPeriod,
		TerminationProtectionEnabled: w.TerminationProtectionEnabled, CreatedTimestamp: w.CreatedTimestamp,
		UpdatedTimestamp: w.UpdatedTimestamp, BillingMode: w.BillingMode, FederationStatus: w.FederationStatus,
	}, nil
}

func (s *Server) deleteEventDataStore(tx *journal.Tx, req *request, in *ctapi.DeleteEventDataStoreRequest) (any, error) {
	st, err := s.activeStore(context.Background(), tx, req, deref(in.EventDataStore))
	if err != nil {
		return nil, err
	}
	if err := refuseOngoingImport(tx, st); err != nil {
		return nil, err
	}
	if st.TerminationProtection {
		return nil, opentrail.Errorf("EventDataStoreTerminationProtectedException",
			"Event data store %s has termination protection enabled: disable it with UpdateEventDataStore first.", st.ARN())
	}
	chans, err := tx.Channels(st.Account, st.Region)
	if err != nil {
		return nil, err
	}
	for _, c := range chans {
		for _, d := range c.Destinations {
			if d.Type == opentrail.DestinationEventDataStore && d.Location == st.ARN() {
				return nil, opentrail.Errorf("ChannelExistsForEDSException",
					"Channel %s sends events to event data store %s: remove it from the channel's destinations first.", c.ARN(), st.ARN())
			}
		}
	}
	st.Status = lakeingest.StatusPendingDeletion
	st.Deleted = s.now().UTC()
	st.Updated = st.Deleted
	if err := lakeingest.PutStore(tx, st, false); err != nil {
		return nil, err
	}
	return &ctapi.DeleteEventDataStoreResponse{}, nil
}

func (s *Server) restoreEventDataStore(tx *journal.Tx, req *request, in *ctapi.RestoreEventDataStoreRequest) (any, error) {
	st, err := s.findStore(context.Background(), tx, req, deref(in.EventDataStore))
	if err != nil {
		return nil, err
	}
	if st.Status != lakeingest.StatusPendingDeletion {
		return nil, opentrail.Errorf("InvalidEventDataStoreStatusException",
			"Event data store %s is %s: only a store pending deletion can be restored.", st.ARN(), st.Status)
	}
	st.Status = lakeingest.StatusEnabled
	st.Deleted = time.Time{}
	st.Updated = s.now().UTC()
	if err := lakeingest.PutStore(tx, st, false); err != nil {
		return nil, err
	}
	w := wireStore(st)
	return &ctapi.RestoreEventDataStoreResponse{
		EventDataStoreArn: w.EventDataStoreArn, Name: w.Name, Status: w.Status, AdvancedEventSelectors: w.AdvancedEventSelectors,
		MultiRegionEnabled: w.MultiRegionEnabled, OrganizationEnabled: w.OrganizationEnabled, RetentionPeriod: w.RetentionPeriod,
		TerminationProtectionEnabled: w.TerminationProtectionEnabled, CreatedTimestamp: w.CreatedTimestamp,
		UpdatedTimestamp: w.UpdatedTimestamp, BillingMode: w.BillingMode,
	}, nil
}

// setIngestion starts or stops a store's ingestion.
func (s *Server) setIngestion(tx *journal.Tx, req *request, ref string, on bool) error {
	st, err := s.findStore(context.Background(), tx, req, ref)
	if err != nil {
		return err
	}
	if st.TakesActivity() {
		return opentrail.Errorf("InvalidEventDataStoreCategoryException",
			"Event data store %s takes events from channels (ActivityAuditLog): its ingestion cannot be started or stopped.", st.ARN())
	}
	want, next := lakeingest.StatusStopped, lakeingest.StatusEnabled
	if !on {
		want, next = lakeingest.StatusEnabled, lakeingest.StatusStopped
	}
	if st.Status != want {
		return opentrail.Errorf("InvalidEventDataStoreStatusException",
			"Event data store %s is %s; it must be %s for this operation.", st.ARN(), st.Status, want)
	}
	st.Status = next
	st.Updated = s.now().UTC()
	return lakeingest.PutStore(tx, st, false)
}

func (s *Server) startIngestion(tx *journal.Tx, req *request, in *ctapi.StartEventDataStoreIngestionRequest) (any, error) {
	if err := s.setIngestion(tx, req, deref(in.EventDataStore), true); err != nil {
		return nil, err
	}
	return &ctapi.StartEventDataStoreIngestionResponse{}, nil
}

func (s *Server) stopIngestion(tx *journal.Tx, req *request, in *ctapi.StopEventDataStoreIngestionRequest) (any, error) {
	if err := s.setIngestion(tx, req, deref(in.EventDataStore), false); err != nil {
		return nil, err
	}
	return &ctapi.StopEventDataStoreIngestionResponse{}, nil
}

// storeDestination checks a channel's EVENT_DATA_STORE destination: a store
// of the caller's account and region, not pending deletion, whose selectors
// take ActivityAuditLog events. It returns the store's ARN.
func (s *Server) storeDestination(tx *journal.Tx, req *request, location string) (string, error) {
	if s.cfg.Lake == nil {
		return "", storeNotFound(location)
	}
	st, err := s.findStore(context.Background(), tx, req, location)
	if err != nil {
		if opentrail.ErrorCode(err) == "EventDataStoreARNInvalidException" {
			return "", storeNotFound(location)
		}
		return "", err
	}
	if st.Status == lakeingest.StatusPendingDeletion {
		return "", storeNotFound(location)
	}
	if !st.TakesActivity() {
		return "", opentrail.Errorf("InvalidEventDataStoreCategoryException",
			"Event data store %s does not select eventCategory ActivityAuditLog, so it cannot receive a channel's events.", st.ARN())
	}
	return st.ARN(), nil
}

// storeTaggable resolves an event data store ARN for the tag operations.
func (s *Server) storeTaggable(ctx context.Context, tx *journal.Tx, req *request, ref string) (string, error) {
	st, err := s.findStore(ctx, tx, req, ref)
	if err != nil {
		return "", err
	}
	return st.ARN(), nil
}
