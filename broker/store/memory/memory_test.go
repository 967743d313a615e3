package memory_test

import (
	"errors"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"github.com/nautilus-go/nautilus/broker/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		s := memory.New() // every open is the same store, as brokers of one process share it
		return func(enc *backend.Encryption) (store.Store, error) {
			if enc != nil {
				return nil, errors.New("memory store: no encryption")
			}
			return s, nil
		}
	}, storetest.Options{})
}
