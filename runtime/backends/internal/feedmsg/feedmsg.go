// Package feedmsg is the change message the network backends publish with
// every write (Redis in its scripts, PostgreSQL with pg_notify), and its
// decoding into a runtime.Change:
//
//	{"ns": NS, "rev": N, "put": [keys stored], "del": [keys that were there
//	 and are gone], "schema": true, "cp": NAME, "op": "created"|"deleted"|
//	 "restored", "big": true}
//
// Fields that do not apply are left out (or empty: Lua's cjson writes an
// empty array as {}). "big" marks a write whose key lists did not fit in a
// message (PostgreSQL's notifications hold 8000 bytes): it is reported as
// a gap of its one revision, so that the consumer re-reads.
package feedmsg

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/stategen/stategen/runtime"
)

type message struct {
	NS     string          `json:"ns"`
	Rev    int64           `json:"rev"`
	Put    json.RawMessage `json:"put"`
	Del    json.RawMessage `json:"del"`
	Schema bool            `json:"schema"`
	CP     string          `json:"cp"`
	Op     string          `json:"op"`
	Big    bool            `json:"big"`
}

// Decode turns a published message into a Change. An error wraps
// runtime.ErrCorrupt.
func Decode(payload []byte) (runtime.Change, error) {
	var m message
	if err := json.Unmarshal(payload, &m); err != nil || m.NS == "" {
		if err == nil {
			err = errNoNamespace
		}
		return runtime.Change{}, runtime.Corrupt("feed message", err)
	}
	c := runtime.Change{Namespace: m.NS, Kind: runtime.ChangeWrite, Revision: m.Rev, Schema: m.Schema, Checkpoint: m.CP, CheckpointOp: runtime.CheckpointOp(m.Op)}
	switch {
	case m.Op == string(runtime.CheckpointCreated) || m.Op == string(runtime.CheckpointDeleted):
		c.Kind = runtime.ChangeCheckpoint
	case m.Big:
		c.Kind, c.FromRevision = runtime.ChangeGap, m.Rev-1
	}
	c.Keys, c.Deleted = keyList(m.Put), keyList(m.Del)
	return c, nil
}

var errNoNamespace = errors.New("no namespace")

// Send decodes payload and sends its change when it concerns namespace ns
// (every namespace when ns is empty), or the error when it does not decode:
// what a Feeder does with each message it receives.
func Send(payload []byte, ns string, send func(runtime.Change, error)) {
	c, err := Decode(payload)
	if err != nil {
		send(runtime.Change{}, err)
	} else if ns == "" || c.Namespace == ns {
		send(c, nil)
	}
}

// keyList decodes an array of keys, sorted; anything else is none.
func keyList(raw json.RawMessage) []string {
	var keys []string
	if json.Unmarshal(raw, &keys) != nil {
		return nil
	}
	slices.Sort(keys)
	return keys
}
