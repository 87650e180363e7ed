package opentrail

// Event selectors decide which events a trail logs and an event data store
// keeps. This file validates them as PutEventSelectors, CreateEventDataStore
// and UpdateEventDataStore do (InvalidEventSelectorsException) and compiles
// them into a Matcher that tests a record's Summary without allocating.
//
// Where AWS documents a rule it is followed; rules AWS enforces but does not
// document are marked "unconfirmed" beside the check that implements them.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// CodeInvalidEventSelectors is the error code of every selector validation
// failure.
const CodeInvalidEventSelectors = "InvalidEventSelectorsException"

// Selector limits, as documented in "Quotas in AWS CloudTrail" and the API
// reference. AWS documents no count limit for a trail's advanced selectors,
// only MaxSelectorValues; MaxEventSelectors is the limit of basic ones.
const (
	MaxEventSelectors = 5   // basic selectors per trail
	MaxStoreSelectors = 5   // advanced selectors per event data store
	MaxDataResources  = 250 // data resource values across a trail's basic selectors
	MaxSelectorValues = 500 // condition values across all advanced selectors
)

// Lengths in characters, from the API model.
const (
	maxSelectorNameLen  = 1000 // AdvancedEventSelector.Name
	maxSelectorFieldLen = 1000 // AdvancedFieldSelector.Field
	maxSelectorValueLen = 2048 // each operator value
)

const (
	readWriteAll           = "All"
	readWriteReadOnly      = "ReadOnly"
	readWriteWriteOnly     = "WriteOnly"
	resourceS3Object       = "AWS::S3::Object"
	resourceLambdaFunction = "AWS::Lambda::Function"
	resourceDynamoDBTable  = "AWS::DynamoDB::Table"
	errorCodeVpceDenied    = "VpceAccessDenied"
	categoryConfigItem     = "ConfigurationItem"
	categoryEvidence       = "Evidence"
	sourceKMS              = "kms.amazonaws.com"
	sourceRDSData          = "rdsdata.amazonaws.com"

	supportedFieldsSentence = "eventCategory, eventSource, eventName, eventType, readOnly, resources.type, resources.ARN, sessionCredentialFromConsole, userIdentity.arn, errorCode and vpcEndpointId"
)

// selField is a record field advanced event selectors can test.
type selField uint8

const (
	fieldNone selField = iota
	fieldEventCategory
	fieldReadOnly
	fieldEventSource
	fieldEventName
	fieldEventType
	fieldResourcesType
	fieldResourcesARN
	fieldSessionCredentialFromConsole
	fieldUserIdentityARN
	fieldErrorCode
	fieldVPCEndpointID
	numFields
)

// fieldNames are the wire names of the fields, indexed by selField.
var fieldNames = [numFields]string{
	fieldEventCategory:                "eventCategory",
	fieldReadOnly:                     "readOnly",
	fieldEventSource:                  "eventSource",
	fieldEventName:                    "eventName",
	fieldEventType:                    "eventType",
	fieldResourcesType:                "resources.type",
	fieldResourcesARN:                 "resources.ARN",
	fieldSessionCredentialFromConsole: "sessionCredentialFromConsole",
	fieldUserIdentityARN:              "userIdentity.arn",
	fieldErrorCode:                    "errorCode",
	fieldVPCEndpointID:                "vpcEndpointId",
}

func (f selField) String() string { return fieldNames[f] }

func lookupField(name string) selField {
	for f := fieldEventCategory; f < numFields; f++ {
		if fieldNames[f] == name {
			return f
		}
	}
	return fieldNone
}

type fieldSet uint16

func fields(fs ...selField) fieldSet {
	var s fieldSet
	for _, f := range fs {
		s |= 1 << f
	}
	return s
}

func (s fieldSet) has(f selField) bool { return s&(1<<f) != 0 }

// Which fields each event category may use, per the AdvancedFieldSelector
// reference: trails and event data stores differ for management and network
// activity events; the event data store categories that are not CloudTrail
// events (Insight, ConfigurationItem, Evidence, ActivityAuditLog) are selected
// by eventCategory alone.
var (
	trailFields = map[string]fieldSet{
		CategoryManagement: fields(fieldEventCategory, fieldEventSource, fieldReadOnly),
		CategoryData: fields(fieldEventCategory, fieldResourcesType, fieldEventName, fieldEventSource,
			fieldEventType, fieldReadOnly, fieldResourcesARN, fieldSessionCredentialFromConsole, fieldUserIdentityARN),
		CategoryNetworkActivity: fields(fieldEventCategory, fieldEventSource, fieldEventName, fieldErrorCode,
			fieldVPCEndpointID, fieldUserIdentityARN),
	}
	storeFields = map[string]fieldSet{
		CategoryManagement: fields(fieldEventCategory, fieldEventSource, fieldReadOnly, fieldEventName,
			fieldEventType, fieldSessionCredentialFromConsole, fieldUserIdentityARN),
		CategoryData:             trailFields[CategoryData],
		CategoryNetworkActivity:  fields(fieldEventCategory, fieldEventSource, fieldEventName, fieldErrorCode, fieldVPCEndpointID),
		CategoryInsight:          fields(fieldEventCategory),
		categoryConfigItem:       fields(fieldEventCategory),
		categoryEvidence:         fields(fieldEventCategory),
		CategoryActivityAuditLog: fields(fieldEventCategory),
	}
)

// The operators of a field selector, in wire order.
const (
	opEquals = iota
	opStartsWith
	opEndsWith
	opNotEquals
	opNotStartsWith
	opNotEndsWith
	numOps
)

var opNames = [numOps]string{"Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith"}

func operators(fs *FieldSelector) [numOps][]string {
	return [numOps][]string{fs.Equals, fs.StartsWith, fs.EndsWith, fs.NotEquals, fs.NotStartsWith, fs.NotEndsWith}
}

func invalidSelectors(format string, args ...any) *Error {
	return Errorf(CodeInvalidEventSelectors, format, args...)
}

// ValidateTrailSelectors checks the selectors of a PutEventSelectors request
// and returns nil or an *Error with code InvalidEventSelectorsException whose
// message names the offending selector, field or value. A request sets basic
// or advanced selectors, never both, and never neither; a trail that has no
// selectors at all uses the default (all management events) and needs no
// validation.
func ValidateTrailSelectors(basic []EventSelector, advanced []AdvancedEventSelector) error {
	switch {
	case len(basic) > 0 && len(advanced) > 0:
		return invalidSelectors("You can use either EventSelectors or AdvancedEventSelectors, but not both.")
	case len(basic) > 0:
		return validateBasic(basic)
	case len(advanced) > 0:
		return validateAdvanced(advanced, false)
	}
	return invalidSelectors("Specify either EventSelectors (1 to %d) or AdvancedEventSelectors.", MaxEventSelectors)
}

// ValidateStoreSelectors checks the advanced event selectors of an event data
// store and returns nil or an *Error with code InvalidEventSelectorsException.
// No selectors is valid: the store then collects management events (see
// CompileStoreSelectors).
func ValidateStoreSelectors(advanced []AdvancedEventSelector) error {
	if len(advanced) == 0 {
		return nil
	}
	if len(advanced) > MaxStoreSelectors {
		return invalidSelectors("An event data store can have up to %d advanced event selectors; the request has %d.",
			MaxStoreSelectors, len(advanced))
	}
	return validateAdvanced(advanced, true)
}

var (
	// The "all resources" values of basic data resources. AWS documents
	// arn:aws:s3, arn:aws:lambda and arn:aws:dynamodb; the older arn:aws:s3:::
	// form is accepted too (unconfirmed that AWS still does).
	allS3Objects   = regexp.MustCompile(`^arn:aws[a-z-]*:s3(:::)?$`)
	allLambdas     = regexp.MustCompile(`^arn:aws[a-z-]*:lambda$`)
	allTables      = regexp.MustCompile(`^arn:aws[a-z-]*:dynamodb$`)
	s3ObjectPrefix = regexp.MustCompile(`^arn:aws[a-z-]*:s3:::[A-Za-z0-9._-]{3,255}/`)
	s3ObjectARN    = regexp.MustCompile(`^arn:aws[a-z-]*:s3:::[A-Za-z0-9._-]{3,255}/.+$`)
	lambdaARN      = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$`)
	tableARN       = regexp.MustCompile(`^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}$`)
	resourceType   = regexp.MustCompile(`^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$`)
	fieldNameChars = regexp.MustCompile(`^[\w|\d|\.|_]+$`) // the model's pattern, anchored
)

// dataResourceValue reports whether v is a valid value for a basic data
// resource of type typ, and whether it is an "all resources" value, which
// does not count toward MaxDataResources.
func dataResourceValue(typ, v string) (ok, all bool) {
	switch typ {
	case resourceS3Object:
		if allS3Objects.MatchString(v) {
			return true, true
		}
		// A bucket alone (no trailing slash) is rejected as AWS does: the
		// documented whole-bucket form is arn:aws:s3:::bucket/.
		return s3ObjectPrefix.MatchString(v), false
	case resourceLambdaFunction:
		if allLambdas.MatchString(v) {
			return true, true
		}
		return lambdaARN.MatchString(v), false
	case resourceDynamoDBTable:
		if allTables.MatchString(v) {
			return true, true
		}
		return tableARN.MatchString(v), false
	}
	return false, false
}

func dataResourceHint(typ string) string {
	switch typ {
	case resourceS3Object:
		return " Use arn:aws:s3 for all buckets, or arn:aws:s3:::bucket/ followed by an optional object prefix."
	case resourceLambdaFunction:
		return " Use arn:aws:lambda for all functions, or a function's exact ARN."
	case resourceDynamoDBTable:
		return " Use arn:aws:dynamodb for all tables, or a table's exact ARN."
	}
	return ""
}

func validateBasic(sels []EventSelector) error {
	if len(sels) > MaxEventSelectors {
		return invalidSelectors("A trail can have up to %d event selectors; the request has %d.", MaxEventSelectors, len(sels))
	}
	resources := 0
	for _, sel := range sels {
		switch sel.ReadWriteType {
		case "", readWriteAll, readWriteReadOnly, readWriteWriteOnly:
		default:
			return invalidSelectors("Value %s for ReadWriteType is invalid. Valid values are ReadOnly, WriteOnly and All.", sel.ReadWriteType)
		}
		for _, src := range sel.ExcludeManagementEventSources {
			if src != sourceKMS && src != sourceRDSData {
				return invalidSelectors("Value %s for ExcludeManagementEventSources is invalid. Only %s and %s can be excluded.",
					src, sourceKMS, sourceRDSData)
			}
		}
		for _, dr := range sel.DataResources {
			switch dr.Type {
			case resourceS3Object, resourceLambdaFunction, resourceDynamoDBTable:
			default:
				return invalidSelectors("Value %s for DataResources.Type is invalid. Event selectors log data events for %s, %s and %s; use advanced event selectors for other resource types.",
					dr.Type, resourceS3Object, resourceLambdaFunction, resourceDynamoDBTable)
			}
			// A type without values selects nothing; AWS's "1 to 250 data
			// resources" suggests it is refused (unconfirmed).
			if len(dr.Values) == 0 {
				return invalidSelectors("DataResources of type %s must have at least one value.%s", dr.Type, dataResourceHint(dr.Type))
			}
			for _, v := range dr.Values {
				ok, all := dataResourceValue(dr.Type, v)
				if !ok {
					return invalidSelectors("Value %s for DataResources.Values is invalid.%s", v, dataResourceHint(dr.Type))
				}
				if !all {
					resources++
				}
			}
		}
	}
	if resources > MaxDataResources {
		return invalidSelectors("A trail can have up to %d data resources across all event selectors; the request has %d. Values that select all resources (such as arn:aws:s3) do not count.",
			MaxDataResources, resources)
	}
	return nil
}

// selectorRef names a selector in messages: by its Name when it has one.
func selectorRef(i int, sel *AdvancedEventSelector) string {
	if sel.Name != "" {
		return fmt.Sprintf("%q", sel.Name)
	}
	return fmt.Sprintf("at index %d", i)
}

func validateAdvanced(sels []AdvancedEventSelector, store bool) error {
	// First the shape of every selector, then the value limit, then what
	// each field means for the selector's event category.
	total := 0
	for i := range sels {
		sel := &sels[i]
		if n := utf8.RuneCountInString(sel.Name); n > maxSelectorNameLen {
			return invalidSelectors("The name of advanced event selector %d is %d characters long; the maximum is %d.",
				i, n, maxSelectorNameLen)
		}
		if len(sel.FieldSelectors) == 0 {
			return invalidSelectors("Advanced event selector %s must have at least one field selector.", selectorRef(i, sel))
		}
		var seen fieldSet
		for j := range sel.FieldSelectors {
			fs := &sel.FieldSelectors[j]
			f, err := checkFieldName(fs.Field)
			if err != nil {
				return err
			}
			if seen.has(f) {
				return invalidSelectors("Advanced event selector %s has more than one field selector for %s; combine their conditions in one field selector.",
					selectorRef(i, sel), f)
			}
			seen |= 1 << f
			n := 0
			for op, vals := range operators(fs) {
				if vals == nil {
					continue
				}
				if len(vals) == 0 {
					return invalidSelectors("Operator %s of field %s must have at least one value.", opNames[op], f)
				}
				for _, v := range vals {
					if n := utf8.RuneCountInString(v); n == 0 || n > maxSelectorValueLen {
						return invalidSelectors("Values of field %s must be 1 to %d characters long; a value of operator %s is %d.",
							f, maxSelectorValueLen, opNames[op], n)
					}
				}
				n += len(vals)
			}
			if n == 0 {
				return invalidSelectors("Field selector %s of advanced event selector %s needs at least one operator: Equals, StartsWith, EndsWith, NotEquals, NotStartsWith or NotEndsWith.",
					f, selectorRef(i, sel))
			}
			total += n
		}
	}
	if total > MaxSelectorValues {
		return invalidSelectors("Advanced event selectors can have up to %d values across all conditions; the request has %d.",
			MaxSelectorValues, total)
	}
	storeKind := ""
	for i := range sels {
		cat, err := validateSelectorFields(i, &sels[i], store)
		if err != nil {
			return err
		}
		if store {
			// An event data store holds one kind of event, since each kind
			// has its own schema: CloudTrail events (management, data,
			// network activity) or one of the other categories.
			kind := cat
			switch cat {
			case CategoryManagement, CategoryData, CategoryNetworkActivity:
				kind = "CloudTrail events (Management, Data, NetworkActivity)"
			}
			if storeKind == "" {
				storeKind = kind
			} else if kind != storeKind {
				return invalidSelectors("An event data store collects one type of event: eventCategory %s cannot be combined with %s in the same event data store.",
					cat, storeKind)
			}
		}
	}
	return nil
}

func checkFieldName(name string) (selField, error) {
	if n := utf8.RuneCountInString(name); n == 0 || n > maxSelectorFieldLen || !fieldNameChars.MatchString(name) {
		return fieldNone, invalidSelectors("Field %q is invalid: field names are 1 to %d letters, digits, periods and underscores.",
			name, maxSelectorFieldLen)
	}
	f := lookupField(name)
	if f == fieldNone {
		return fieldNone, invalidSelectors("Field %s is not supported. Supported fields are %s.", name, supportedFieldsSentence)
	}
	return f, nil
}

// onlyOps returns an error unless fs uses only the allowed operators.
func onlyOps(fs *FieldSelector, f selField, allowed ...int) error {
	for op, vals := range operators(fs) {
		if vals != nil && !slices.Contains(allowed, op) {
			names := make([]string, len(allowed))
			for i, a := range allowed {
				names[i] = opNames[a]
			}
			return invalidSelectors("Field %s supports only the %s operator%s; it cannot use %s.",
				f, strings.Join(names, " and "), plural(len(names)), opNames[op])
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// allValues returns every value of fs, whatever its operator.
func allValues(fs *FieldSelector) []string {
	var out []string
	for _, vals := range operators(fs) {
		out = append(out, vals...)
	}
	return out
}

// validateSelectorFields checks one structurally sound selector against the
// rules of its event category and returns the category.
func validateSelectorFields(i int, sel *AdvancedEventSelector, store bool) (string, error) {
	ref := selectorRef(i, sel)
	var byField [numFields]*FieldSelector
	for j := range sel.FieldSelectors {
		fs := &sel.FieldSelectors[j]
		byField[lookupField(fs.Field)] = fs
	}
	catFS := byField[fieldEventCategory]
	if catFS == nil {
		return "", invalidSelectors("Advanced event selector %s must have an eventCategory field selector.", ref)
	}
	if err := onlyOps(catFS, fieldEventCategory, opEquals); err != nil {
		return "", err
	}
	// One category per selector keeps the per-category field rules
	// well-defined; AWS's examples always use one (unconfirmed that AWS
	// refuses several).
	if len(catFS.Equals) != 1 {
		return "", invalidSelectors("Field eventCategory of advanced event selector %s must have exactly one value; use one advanced event selector per event category.", ref)
	}
	cat := catFS.Equals[0]
	table, where, valid := trailFields, "trails", "Management, Data and NetworkActivity"
	if store {
		table, where, valid = storeFields, "event data stores", "Management, Data, NetworkActivity, Insight, ConfigurationItem, Evidence and ActivityAuditLog"
	}
	allowed, ok := table[cat]
	if !ok {
		return "", invalidSelectors("Value %s for field eventCategory is invalid. Valid values for %s are %s.", cat, where, valid)
	}
	for f := fieldEventCategory + 1; f < numFields; f++ {
		if byField[f] != nil && !allowed.has(f) {
			if allowed == fields(fieldEventCategory) {
				return "", invalidSelectors("Field %s is not supported for %s events: only eventCategory can be used to select them.", f, cat)
			}
			return "", invalidSelectors("Field %s is not supported for %s events in %s.", f, cat, where)
		}
	}

	// Fields required by the category.
	switch cat {
	case CategoryData:
		if byField[fieldResourcesType] == nil {
			return "", invalidSelectors("Advanced event selector %s for Data events must have a resources.type field selector.", ref)
		}
	case CategoryNetworkActivity:
		if byField[fieldEventSource] == nil {
			return "", invalidSelectors("Advanced event selector %s for NetworkActivity events must have an eventSource field selector naming the event source to log.", ref)
		}
	}

	// Operators and values, field by field.
	resType := ""
	if fs := byField[fieldResourcesType]; fs != nil {
		if err := onlyOps(fs, fieldResourcesType, opEquals); err != nil {
			return "", err
		}
		if len(fs.Equals) != 1 {
			return "", invalidSelectors("Field resources.type of advanced event selector %s must have exactly one value; to log several resource types, use one advanced event selector for each.", ref)
		}
		resType = fs.Equals[0]
		// The list of data event resource types grows every month; the
		// shape is checked rather than a copy of the list that would go
		// stale (AWS itself refuses unknown types).
		if !resourceType.MatchString(resType) {
			return "", invalidSelectors("Value %s for field resources.type is invalid: resource types look like AWS::S3::Object.", resType)
		}
	}
	if fs := byField[fieldReadOnly]; fs != nil {
		if err := onlyOps(fs, fieldReadOnly, opEquals); err != nil {
			return "", err
		}
		for _, v := range fs.Equals {
			if v != "true" && v != "false" {
				return "", invalidSelectors("Value %s for field readOnly is invalid. Valid values are true and false.", v)
			}
		}
	}
	if fs := byField[fieldSessionCredentialFromConsole]; fs != nil {
		if err := onlyOps(fs, fieldSessionCredentialFromConsole, opEquals, opNotEquals); err != nil {
			return "", err
		}
		// The record field is "true" or absent; true and false are the
		// meaningful values (unconfirmed that AWS refuses others).
		for _, v := range allValues(fs) {
			if v != "true" && v != "false" {
				return "", invalidSelectors("Value %s for field sessionCredentialFromConsole is invalid. Valid values are true and false.", v)
			}
		}
	}
	if fs := byField[fieldErrorCode]; fs != nil {
		if err := onlyOps(fs, fieldErrorCode, opEquals); err != nil {
			return "", err
		}
		for _, v := range fs.Equals {
			if v != errorCodeVpceDenied {
				return "", invalidSelectors("Value %s for field errorCode is invalid. The only supported errorCode is %s.", v, errorCodeVpceDenied)
			}
		}
	}
	if fs := byField[fieldEventSource]; fs != nil {
		switch {
		case cat == CategoryNetworkActivity:
			if err := onlyOps(fs, fieldEventSource, opEquals); err != nil {
				return "", invalidSelectors("Field eventSource of NetworkActivity selectors supports only the Equals operator; it cannot use %s.", firstOp(fs))
			}
			if len(fs.Equals) != 1 {
				return "", invalidSelectors("Field eventSource of NetworkActivity advanced event selector %s must have exactly one value; to log several event sources, use one advanced event selector for each.", ref)
			}
		case cat == CategoryManagement && !store:
			for op, vals := range operators(fs) {
				if vals == nil {
					continue
				}
				for _, v := range vals {
					if op != opNotEquals || (v != sourceKMS && v != sourceRDSData) {
						return "", invalidSelectors("Management event selectors on trails can only exclude event sources with eventSource NotEquals %s or %s; %s %s is not supported.",
							sourceKMS, sourceRDSData, opNames[op], v)
					}
				}
			}
		}
	}
	if fs := byField[fieldResourcesARN]; fs != nil {
		for _, vals := range [][]string{fs.Equals, fs.NotEquals} {
			for _, v := range vals {
				if !exactResourceARN(resType, v) {
					return "", invalidSelectors("Value %s for field resources.ARN is not a valid %s ARN. Equals and NotEquals need the exact ARN of a resource of that type; use StartsWith to match a prefix, such as arn:aws:s3:::bucket/ for all objects in a bucket.",
						v, resType)
				}
			}
		}
	}
	return cat, nil
}

func firstOp(fs *FieldSelector) string {
	for op, vals := range operators(fs) {
		if vals != nil && op != opEquals {
			return opNames[op]
		}
	}
	return opNames[opEquals]
}

// exactResourceARN reports whether v is the ARN of one resource of type typ.
// The three basic types are checked closely; for the others v must be an
// ARN (the per-service formats are not all known here).
func exactResourceARN(typ, v string) bool {
	switch typ {
	case resourceS3Object:
		return s3ObjectARN.MatchString(v)
	case resourceLambdaFunction:
		return lambdaARN.MatchString(v)
	case resourceDynamoDBTable:
		return tableARN.MatchString(v)
	}
	_, ok := ParseARN(v)
	return ok
}

// Matcher decides whether a trail or event data store takes an event. Build
// one with CompileTrailSelectors or CompileStoreSelectors; it is immutable
// and safe for concurrent use. Match does not allocate.
type Matcher struct {
	// managementOnly is the default: every management event, read or write.
	managementOnly bool
	basic          []basicSelector
	advanced       []advancedSelector
}

// CompileTrailSelectors validates a trail's selectors (as
// ValidateTrailSelectors) and compiles them. A trail with no selectors gets
// AWS's default: all management events, read and write, and nothing else.
func CompileTrailSelectors(basic []EventSelector, advanced []AdvancedEventSelector) (*Matcher, error) {
	if len(basic) == 0 && len(advanced) == 0 {
		return &Matcher{managementOnly: true}, nil
	}
	if err := ValidateTrailSelectors(basic, advanced); err != nil {
		return nil, err
	}
	m := &Matcher{}
	for i := range basic {
		m.basic = append(m.basic, compileBasic(&basic[i]))
	}
	for i := range advanced {
		m.advanced = append(m.advanced, compileAdvanced(&advanced[i]))
	}
	return m, nil
}

// CompileStoreSelectors validates an event data store's selectors (as
// ValidateStoreSelectors) and compiles them. A store created without
// selectors collects all management events, read and write: AWS gives such a
// store a single "Default management events" selector (eventCategory
// Management); that AWS does so for API calls, not only the console, is
// unconfirmed.
func CompileStoreSelectors(advanced []AdvancedEventSelector) (*Matcher, error) {
	if len(advanced) == 0 {
		return &Matcher{managementOnly: true}, nil
	}
	if err := ValidateStoreSelectors(advanced); err != nil {
		return nil, err
	}
	m := &Matcher{}
	for i := range advanced {
		m.advanced = append(m.advanced, compileAdvanced(&advanced[i]))
	}
	return m, nil
}

// Match reports whether the event s summarizes is selected: whether it
// matches any of the selectors. A nil Matcher or Summary matches nothing.
//
// Basic selectors take management events by ReadWriteType,
// IncludeManagementEvents and ExcludeManagementEventSources, and data events
// whose resource of a listed type matches a listed value (a prefix for S3
// objects and the "all" values, the exact ARN for functions and tables) and
// whose read/write kind ReadWriteType allows. Events of other categories
// never match basic selectors. An event without readOnly matches only
// ReadWriteType All.
//
// An advanced selector matches when all of its field selectors do. A field
// selector matches when some value of a positive operator (Equals,
// StartsWith, EndsWith) matches, if it has any, and no value of a negative
// operator (NotEquals, NotStartsWith, NotEndsWith) does. Absent fields read
// as "", except readOnly, which then matches no condition, and
// sessionCredentialFromConsole, which reads as "false". The resources.type
// and resources.ARN conditions of a selector must all hold for one and the
// same element of the record's resources (its ARN, or its ARNPrefix when it
// has no ARN).
func (m *Matcher) Match(s *Summary) bool {
	if m == nil || s == nil {
		return false
	}
	if m.managementOnly {
		return s.Category == CategoryManagement
	}
	for i := range m.basic {
		if m.basic[i].match(s) {
			return true
		}
	}
	for i := range m.advanced {
		if m.advanced[i].match(s) {
			return true
		}
	}
	return false
}

// readWrite is a basic selector's ReadWriteType.
type readWrite uint8

const (
	rwAll readWrite = iota
	rwRead
	rwWrite
)

func (rw readWrite) allows(ro *bool) bool {
	switch rw {
	case rwRead:
		return ro != nil && *ro
	case rwWrite:
		return ro != nil && !*ro
	}
	return true
}

type basicSelector struct {
	rw             readWrite
	management     bool
	excludeSources []string
	data           []dataMatcher
}

// dataMatcher holds the values of one DataResource: prefixes (S3 object
// values and the "all" values) and exact ARNs (functions and tables).
type dataMatcher struct {
	typ      string
	prefixes []string
	exact    []string
}

func compileBasic(sel *EventSelector) basicSelector {
	b := basicSelector{
		management:     sel.IncludeManagementEvents == nil || *sel.IncludeManagementEvents,
		excludeSources: slices.Clone(sel.ExcludeManagementEventSources),
	}
	switch sel.ReadWriteType {
	case readWriteReadOnly:
		b.rw = rwRead
	case readWriteWriteOnly:
		b.rw = rwWrite
	}
	for _, dr := range sel.DataResources {
		d := dataMatcher{typ: dr.Type}
		for _, v := range dr.Values {
			if _, all := dataResourceValue(dr.Type, v); all || dr.Type == resourceS3Object {
				d.prefixes = append(d.prefixes, v)
			} else {
				d.exact = append(d.exact, v)
			}
		}
		b.data = append(b.data, d)
	}
	return b
}

func (b *basicSelector) match(s *Summary) bool {
	switch s.Category {
	case CategoryManagement:
		return b.management && b.rw.allows(s.ReadOnly) && !slices.Contains(b.excludeSources, s.EventSource)
	case CategoryData:
		if !b.rw.allows(s.ReadOnly) {
			return false
		}
		for i := range b.data {
			d := &b.data[i]
			for j := range s.RecordResources {
				r := &s.RecordResources[j]
				if r.Type == d.typ && d.matches(resourceValue(r)) {
					return true
				}
			}
		}
	}
	return false
}

func (d *dataMatcher) matches(v string) bool {
	for _, p := range d.prefixes {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return slices.Contains(d.exact, v)
}

// resourceValue is what resources.ARN reads of a record resource.
func resourceValue(r *Resource) string {
	if r.ARN != "" {
		return r.ARN
	}
	return r.ARNPrefix
}

type advancedSelector struct {
	category  string      // the eventCategory Equals value
	scalar    []condition // conditions on fields with one value per record
	resources []condition // resources.type and resources.ARN conditions
}

// condition is a compiled field selector.
type condition struct {
	field                                 selField
	positive                              bool // has Equals, StartsWith or EndsWith
	equals, startsWith, endsWith          []string
	notEquals, notStartsWith, notEndsWith []string
}

func compileAdvanced(sel *AdvancedEventSelector) advancedSelector {
	var a advancedSelector
	for i := range sel.FieldSelectors {
		fs := &sel.FieldSelectors[i]
		f := lookupField(fs.Field)
		if f == fieldEventCategory {
			a.category = fs.Equals[0]
			continue
		}
		c := condition{
			field:         f,
			positive:      fs.Equals != nil || fs.StartsWith != nil || fs.EndsWith != nil,
			equals:        slices.Clone(fs.Equals),
			startsWith:    slices.Clone(fs.StartsWith),
			endsWith:      slices.Clone(fs.EndsWith),
			notEquals:     slices.Clone(fs.NotEquals),
			notStartsWith: slices.Clone(fs.NotStartsWith),
			notEndsWith:   slices.Clone(fs.NotEndsWith),
		}
		if f == fieldResourcesType || f == fieldResourcesARN {
			a.resources = append(a.resources, c)
		} else {
			a.scalar = append(a.scalar, c)
		}
	}
	return a
}

func (a *advancedSelector) match(s *Summary) bool {
	if s.Category != a.category {
		return false
	}
	for i := range a.scalar {
		c := &a.scalar[i]
		v, ok := scalarValue(s, c.field)
		if !ok || !c.test(v) {
			return false
		}
	}
	if len(a.resources) == 0 {
		return true
	}
	for i := range s.RecordResources {
		if a.matchResource(&s.RecordResources[i]) {
			return true
		}
	}
	return false
}

func (a *advancedSelector) matchResource(r *Resource) bool {
	for i := range a.resources {
		c := &a.resources[i]
		v := r.Type
		if c.field == fieldResourcesARN {
			v = resourceValue(r)
		}
		if !c.test(v) {
			return false
		}
	}
	return true
}

// scalarValue is the value a field reads from a record; ok is false when no
// condition on the field can match (readOnly absent).
func scalarValue(s *Summary, f selField) (v string, ok bool) {
	switch f {
	case fieldReadOnly:
		if s.ReadOnly == nil {
			return "", false
		}
		if *s.ReadOnly {
			return "true", true
		}
		return "false", true
	case fieldEventSource:
		return s.EventSource, true
	case fieldEventName:
		return s.EventName, true
	case fieldEventType:
		return s.EventType, true
	case fieldSessionCredentialFromConsole:
		if s.SessionCredentialFromConsole == "true" {
			return "true", true
		}
		return "false", true
	case fieldUserIdentityARN:
		return s.UserARN, true
	case fieldErrorCode:
		return s.ErrorCode, true
	case fieldVPCEndpointID:
		return s.VPCEndpointID, true
	case fieldEventCategory:
		return s.Category, true
	}
	return "", false
}

func (c *condition) test(v string) bool {
	if c.positive && !c.anyPositive(v) {
		return false
	}
	for _, x := range c.notEquals {
		if v == x {
			return false
		}
	}
	for _, x := range c.notStartsWith {
		if strings.HasPrefix(v, x) {
			return false
		}
	}
	for _, x := range c.notEndsWith {
		if strings.HasSuffix(v, x) {
			return false
		}
	}
	return true
}

func (c *condition) anyPositive(v string) bool {
	for _, x := range c.equals {
		if v == x {
			return true
		}
	}
	for _, x := range c.startsWith {
		if strings.HasPrefix(v, x) {
			return true
		}
	}
	for _, x := range c.endsWith {
		if strings.HasSuffix(v, x) {
			return true
		}
	}
	return false
}
