package fsstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Kind is the kind of a JSON value.
type Kind uint8

// The JSON kinds.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

// Node is a parsed JSON value that keeps what encoding/json's generic
// decoding loses and a file shared with Python must keep: the order of an
// object's members, and numbers exactly as written (1.0 stays 1.0, a 20-digit
// integer stays exact).
type Node struct {
	Kind Kind
	// Bool is a Bool's value.
	Bool bool
	// Text is a String's value, or a Number's text as written.
	Text string
	// Elems are an Array's elements.
	Elems []*Node
	// Members are an Object's members, in order, each key once.
	Members []Member
}

// Member is one key and value of an object.
type Member struct {
	Key   string
	Value *Node
}

// NewObject returns an empty object.
func NewObject() *Node { return &Node{Kind: Object} }

// StringNode returns a string value.
func StringNode(s string) *Node { return &Node{Kind: String, Text: s} }

// IntNode returns an integer value.
func IntNode(i int64) *Node { return &Node{Kind: Number, Text: strconv.FormatInt(i, 10)} }

// maxDepth bounds nesting, so that hostile input cannot exhaust the stack;
// encoding/json has the same limit.
const maxDepth = 10000

// Parse parses one JSON value (surrounding white space allowed). An object
// that repeats a key keeps the key's first position and last value, as
// Python's json.load does.
func Parse(data []byte) (*Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec, 0)
	if err == io.EOF {
		return nil, errors.New("empty file")
	}
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value at offset %d", dec.InputOffset())
	}
	return n, nil
}

func parseValue(dec *json.Decoder, depth int) (*Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &Node{Kind: Null}, nil
	case bool:
		return &Node{Kind: Bool, Bool: t}, nil
	case json.Number:
		return &Node{Kind: Number, Text: string(t)}, nil
	case string:
		return &Node{Kind: String, Text: t}, nil
	case json.Delim:
		if depth >= maxDepth {
			return nil, fmt.Errorf("JSON nested deeper than %d", maxDepth)
		}
		n := &Node{Kind: Array}
		if t == '{' {
			n.Kind = Object
		}
		var index map[string]int
		for dec.More() {
			var key string
			if n.Kind == Object {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key = kt.(string) // the decoder guarantees a string key here
			}
			v, err := parseValue(dec, depth+1)
			if err != nil {
				return nil, noEOF(err)
			}
			if n.Kind == Array {
				n.Elems = append(n.Elems, v)
				continue
			}
			if index == nil {
				index = map[string]int{}
			}
			if i, dup := index[key]; dup {
				n.Members[i].Value = v
				continue
			}
			index[key] = len(n.Members)
			n.Members = append(n.Members, Member{key, v})
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, noEOF(err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// noEOF turns an end of input inside a value into an error that says so.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ParseObject parses data that must hold a JSON object.
func ParseObject(data []byte) (*Node, error) {
	n, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if n.Kind != Object {
		return nil, fmt.Errorf("want a JSON object, found %s", n.Kind)
	}
	return n, nil
}

// String names the kind, for messages ("an object").
func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "a boolean"
	case Number:
		return "a number"
	case String:
		return "a string"
	case Array:
		return "an array"
	case Object:
		return "an object"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Get returns the value of an object's member, or nil.
func (n *Node) Get(key string) *Node {
	if i := n.index(key); i >= 0 {
		return n.Members[i].Value
	}
	return nil
}

// Set sets an object's member, in place if it exists, else at the end.
func (n *Node) Set(key string, v *Node) {
	if i := n.index(key); i >= 0 {
		n.Members[i].Value = v
		return
	}
	n.Members = append(n.Members, Member{key, v})
}

// Delete removes an object's member, if present.
func (n *Node) Delete(key string) {
	if i := n.index(key); i >= 0 {
		n.Members = append(n.Members[:i], n.Members[i+1:]...)
	}
}

func (n *Node) index(key string) int {
	for i, m := range n.Members {
		if m.Key == key {
			return i
		}
	}
	return -1
}

// Int returns a Number's value as an int64, failing for anything else (a
// fraction, an exponent, a string).
func (n *Node) Int() (int64, error) {
	if n == nil || n.Kind != Number {
		kind := "nothing"
		if n != nil {
			kind = n.Kind.String()
		}
		return 0, fmt.Errorf("want an integer, found %s", kind)
	}
	i, err := strconv.ParseInt(n.Text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer, found %s", n.Text)
	}
	return i, nil
}
