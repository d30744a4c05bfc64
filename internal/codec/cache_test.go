package codec

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheOneLoadPerID(t *testing.T) {
	var c Cache[*int]
	var loads atomic.Int32
	release := make(chan struct{})
	load := func(_ context.Context, id int) (*int, error) {
		loads.Add(1)
		<-release
		return &id, nil
	}
	var wg sync.WaitGroup
	got := make([]*int, 50)
	for i := range got {
		wg.Go(func() {
			v, err := c.Get(context.Background(), 7, load)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads, want 1", loads.Load())
	}
	for _, v := range got {
		if v != got[0] || *v != 7 {
			t.Fatalf("entries differ: %v vs %v", v, got[0])
		}
	}
	if v, _ := c.Get(context.Background(), 7, load); v != got[0] || loads.Load() != 1 {
		t.Fatal("second lookup loaded again")
	}
}

func TestCacheKeepsNoFailure(t *testing.T) {
	var c Cache[int]
	fail := true
	load := func(context.Context, int) (int, error) {
		if fail {
			return 0, errors.New("registry down")
		}
		return 42, nil
	}
	if _, err := c.Get(context.Background(), 1, load); err == nil {
		t.Fatal("want the load's error")
	}
	fail = false
	if v, err := c.Get(context.Background(), 1, load); err != nil || v != 42 {
		t.Fatalf("after recovery: %v, %v", v, err)
	}
}

func TestCacheCallerGivesUp(t *testing.T) {
	var c Cache[int]
	started := make(chan struct{})
	var loads atomic.Int32
	load := func(ctx context.Context, _ int) (int, error) {
		if loads.Add(1) == 1 {
			close(started)
			<-ctx.Done() // the first caller's context ends mid-load
			return 0, ctx.Err()
		}
		return 5, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Get(ctx, 3, load); done <- err }()
	<-started
	second := make(chan int, 1)
	go func() { v, _ := c.Get(context.Background(), 3, load); second <- v }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	if v := <-second; v != 5 {
		t.Fatalf("second caller got %d, want the value of its own load", v)
	}
}
