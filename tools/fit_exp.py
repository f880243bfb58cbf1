import mpmath as mp, numpy as np
mp.mp.dps = 50
def fit(deg, a, npts=400, iters=30):
    # p(r) = 1 + r + sum_{k=2..deg} c_k r^k, minimise max relative error (Lawson IRLS)
    xs = [mp.mpf(a)*mp.cos(mp.pi*(2*i+1)/(2*npts)) for i in range(npts)]
    w = [mp.mpf(1)]*npts
    for it in range(iters):
        A = mp.matrix(npts, deg-1); bvec = mp.matrix(npts,1)
        for i,x in enumerate(xs):
            ex = mp.exp(x); sw = mp.sqrt(w[i])/ex
            for k in range(2,deg+1): A[i,k-2] = x**k*sw
            bvec[i] = (ex - 1 - x)*sw
        c = mp.lu_solve(A.T*A, A.T*bvec)
        errs = []
        for i,x in enumerate(xs):
            p = 1 + x + sum(c[k-2]*x**k for k in range(2,deg+1))
            errs.append(abs(p/mp.exp(x)-1))
        s = sum(w[i]*errs[i] for i in range(npts))
        w = [w[i]*errs[i]/s for i in range(npts)]
    return [c[k] for k in range(deg-1)], max(errs)
a = mp.log(2)/2 + mp.mpf('1e-6')
for deg in (5,6):
    c, e = fit(deg, a); print('f32 deg', deg, 'maxrel', mp.nstr(e,3), [float(np.float32(float(x))) for x in c])
for deg in (11,12):
    c, e = fit(deg, a); print('f64 deg', deg, 'maxrel', mp.nstr(e,3), [repr(float(x)) for x in c])
