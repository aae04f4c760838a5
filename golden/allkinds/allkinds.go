// Package allkinds has a field of every kind stategen stores.
package allkinds

import (
	"encoding/json"
	"net/netip"
	"strings"
	"time"

	"github.com/stategen/stategen/runtime"
)

//go:generate go tool stategen gen --type=Kinds

// Class is a named string.
type Class string

// Port is a named unsigned integer.
type Port uint16

// Inner is a nested struct.
type Inner struct {
	Name  string
	Count int `json:"count,omitempty"`
	Tags  []string
	//lint:ignore U1000 an unexported field, to show it is not stored
	skip bool
}

// Upper stores itself upper-cased, through its own JSON methods.
type Upper string

// MarshalJSON writes the value upper-cased.
func (u Upper) MarshalJSON() ([]byte, error) { return json.Marshal(strings.ToUpper(string(u))) }

// UnmarshalJSON reads it back.
func (u *Upper) UnmarshalJSON(b []byte) error {
	var s string
	err := json.Unmarshal(b, &s)
	*u = Upper(s)
	return err
}

// Kinds is the state.
//
//stategen:version 3
type Kinds struct {
	ID       string   `state:"id,required"`
	Secret   string   `state:",secret"`
	Model    string   `state:"model,default=\"base\""`
	Retries  int      `state:"retries,default=3"`
	Flags    []string `state:"flags,default=[\"a\",\"b\"]"`
	Enabled  bool
	I8       int8
	I16      int16
	I32      int32
	I64      int64
	U        uint
	U8       uint8
	U32      uint32
	U64      uint64
	F32      float32
	F64      float64
	Class    Class
	Port     Port
	Inner    Inner
	InnerPtr *Inner
	Inners   []Inner
	Matrix   [2][3]int
	ByName   map[string]Inner
	ByID     map[int64]string
	Blob     []byte
	When     time.Time
	Timeout  time.Duration
	Raw      json.RawMessage
	Addr     netip.Addr
	Shout    Upper
	Classes  []Class
	Shouts   []Upper
	Nested   map[string][]*Inner
	// Python's Optional[X] = None: the zero value is stored as null.
	OptIssue string            `state:",nullzero"`
	OptPort  Port              `state:",nullzero,default=8080"`
	OptTags  []string          `state:",nullzero"`
	OptMeta  map[string]string `state:",nullzero"`
	OptWhen  time.Time         `state:",nullzero"`
	//lint:ignore U1000 an unexported field, to show it is not stored
	private string
	Cache   []byte `state:"-"`
}

// migrateKindsV1 upgrades version 1 state: version 2 renamed "count" to
// "retries".
func migrateKindsV1(m *runtime.Migration) error { return m.Rename("count", "retries") }

// migrateKindsV2 upgrades version 2 state: version 3 dropped "legacy".
func migrateKindsV2(m *runtime.Migration) error { return m.Delete("legacy") }
