package model

import (
	"math"
)

// objective is the per-row loss a model is fitted with.
type objective int

const (
	// squaredError is (z - y)² / 2: ridge linear regression.
	squaredError objective = iota
	// logistic is the log loss of sigmoid(z) for y in {0, 1}.
	logistic
	// multinomial is the log loss of softmax(z) for the class index y.
	multinomial
)

// Newton's method settings: it stops when a step moves no parameter by more
// than stepTolerance (relative) or after maxNewtonSteps.
const (
	maxNewtonSteps = 100
	stepTolerance  = 1e-12
	// damping keeps the Hessian positive definite along the one direction
	// the softmax leaves free (adding a constant to every class's bias).
	damping = 1e-9
)

// fit minimises the mean loss plus l2/2 times the squared weights (biases
// are not penalised) over k outputs by damped Newton steps with a
// backtracking line search, from zero. It returns the weights of each
// feature (one per output) and the biases.
func fit(xs [][]float64, ys []float64, obj objective, k int, l2 float64) ([][]float64, []float64) {
	d := len(xs[0])
	stride := d + 1 // output j's parameters: d weights, then its bias
	p := k * stride
	theta := make([]float64, p)
	for range maxNewtonSteps {
		loss, grad, hess := lossGradHess(xs, ys, obj, k, l2, theta)
		for i := range p {
			hess[i*p+i] += damping
		}
		step, ok := solveCholesky(hess, grad, p)
		if !ok {
			break
		}
		var decrement float64
		for i := range p {
			decrement += grad[i] * step[i]
		}
		t := 1.0
		next := make([]float64, p)
		for range 60 {
			for i := range p {
				next[i] = theta[i] - t*step[i]
			}
			if l := lossOnly(xs, ys, obj, k, l2, next); l <= loss-1e-4*t*decrement || t < 1e-10 {
				break
			}
			t /= 2
		}
		var moved, size float64
		for i := range p {
			moved = math.Max(moved, math.Abs(next[i]-theta[i]))
			size = math.Max(size, math.Abs(next[i]))
		}
		theta = next
		if moved <= stepTolerance*(1+size) {
			break
		}
	}
	if obj == multinomial {
		// Softmax is unchanged by a constant added to every bias: centre them.
		var mean float64
		for j := range k {
			mean += theta[j*stride+d] / float64(k)
		}
		for j := range k {
			theta[j*stride+d] -= mean
		}
	}
	w := make([][]float64, d)
	for i := range d {
		w[i] = make([]float64, k)
		for j := range k {
			w[i][j] = theta[j*stride+i]
		}
	}
	b := make([]float64, k)
	for j := range k {
		b[j] = theta[j*stride+d]
	}
	return w, b
}

// outputsOf are the k outputs of row x under theta.
func outputsOf(x, theta []float64, k int) []float64 {
	d := len(x)
	z := make([]float64, k)
	for j := range k {
		base := j * (d + 1)
		s := theta[base+d]
		for i, v := range x {
			s += theta[base+i] * v
		}
		z[j] = s
	}
	return z
}

// rowLoss is one row's loss and, per output, its first derivative and the
// matrix of second derivatives (k×k, row-major).
func rowLoss(z []float64, y float64, obj objective) (float64, []float64, []float64) {
	k := len(z)
	switch obj {
	case squaredError:
		r := z[0] - y
		return r * r / 2, []float64{r}, []float64{1}
	case logistic:
		p := sigmoid(z[0])
		// log(1+e^z) - y z, computed without overflow.
		loss := math.Max(z[0], 0) + math.Log1p(math.Exp(-math.Abs(z[0]))) - y*z[0]
		return loss, []float64{p - y}, []float64{p * (1 - p)}
	default:
		p := softmax(z)
		hi := math.Inf(-1)
		for _, v := range z {
			hi = math.Max(hi, v)
		}
		var sum float64
		for _, v := range z {
			sum += math.Exp(v - hi)
		}
		c := int(y)
		loss := hi + math.Log(sum) - z[c]
		g := make([]float64, k)
		h := make([]float64, k*k)
		for a := range k {
			g[a] = p[a]
			if a == c {
				g[a]--
			}
			for b := range k {
				h[a*k+b] = -p[a] * p[b]
			}
			h[a*k+a] += p[a]
		}
		return loss, g, h
	}
}

// lossOnly is the regularised mean loss at theta.
func lossOnly(xs [][]float64, ys []float64, obj objective, k int, l2 float64, theta []float64) float64 {
	var loss float64
	for i, x := range xs {
		l, _, _ := rowLoss(outputsOf(x, theta, k), ys[i], obj)
		loss += l
	}
	return loss/float64(len(xs)) + penalty(theta, len(xs[0]), k, l2)
}

func penalty(theta []float64, d, k int, l2 float64) float64 {
	var s float64
	for j := range k {
		for i := range d {
			w := theta[j*(d+1)+i]
			s += w * w
		}
	}
	return l2 / 2 * s
}

// lossGradHess is the regularised mean loss at theta, its gradient and
// Hessian (p×p, row-major).
func lossGradHess(xs [][]float64, ys []float64, obj objective, k int, l2 float64, theta []float64) (float64, []float64, []float64) {
	d := len(xs[0])
	stride := d + 1
	p := k * stride
	grad := make([]float64, p)
	hess := make([]float64, p*p)
	outer := make([]float64, stride*stride)
	xt := make([]float64, stride)
	var loss float64
	for i, x := range xs {
		l, g, h := rowLoss(outputsOf(x, theta, k), ys[i], obj)
		loss += l
		copy(xt, x)
		xt[d] = 1
		for a := range stride {
			for b := range stride {
				outer[a*stride+b] = xt[a] * xt[b]
			}
		}
		for a := range k {
			for u := range stride {
				grad[a*stride+u] += g[a] * xt[u]
			}
			for b := range k {
				hab := h[a*k+b]
				if hab == 0 {
					continue
				}
				for u := range stride {
					row := hess[(a*stride+u)*p+b*stride : (a*stride+u)*p+b*stride+stride]
					o := outer[u*stride : u*stride+stride]
					for v := range stride {
						row[v] += hab * o[v]
					}
				}
			}
		}
	}
	n := float64(len(xs))
	for i := range grad {
		grad[i] /= n
	}
	for i := range hess {
		hess[i] /= n
	}
	for j := range k {
		for u := range d {
			idx := j*stride + u
			grad[idx] += l2 * theta[idx]
			hess[idx*p+idx] += l2
		}
	}
	return loss/n + penalty(theta, d, k, l2), grad, hess
}

// solveCholesky solves A x = b for a symmetric positive definite p×p A
// (row-major); ok is false when A is not positive definite.
func solveCholesky(a, b []float64, p int) ([]float64, bool) {
	l := make([]float64, p*p)
	for i := range p {
		for j := 0; j <= i; j++ {
			s := a[i*p+j]
			for m := range j {
				s -= l[i*p+m] * l[j*p+m]
			}
			if i == j {
				if s <= 0 || !finite(s) {
					return nil, false
				}
				l[i*p+i] = math.Sqrt(s)
			} else {
				l[i*p+j] = s / l[j*p+j]
			}
		}
	}
	y := make([]float64, p)
	for i := range p {
		s := b[i]
		for m := range i {
			s -= l[i*p+m] * y[m]
		}
		y[i] = s / l[i*p+i]
	}
	x := make([]float64, p)
	for i := p - 1; i >= 0; i-- {
		s := y[i]
		for m := i + 1; m < p; m++ {
			s -= l[m*p+i] * x[m]
		}
		x[i] = s / l[i*p+i]
	}
	return x, true
}
