/* xent_example.c: cross-entropy forward and backward in one pass with
 * libkgen, checked against a double-precision CPU computation.
 *
 * Logits [rows, vocab] in fp32, int64 targets with some rows ignored
 * (ignore_index -100), torch's mean reduction and label smoothing 0.1.
 * The same call is then captured in a CUDA graph (its kernel loaded ahead
 * with kgen_prepare(), its scratch in a workspace of ours) and replayed.
 *
 *   xent_example [rows] [vocab]        (default 512 32000)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime.h>
#include <kgen.h>

int main(int argc, char **argv)
{
	long long rows = argc > 1 ? atoll(argv[1]) : 512, vocab = argc > 2 ? atoll(argv[2]) : 32000;
	const double eps = 0.1;
	size_t n = (size_t)(rows * vocab);
	float *hx = malloc(n * 4), *hg = malloc(n * 4), loss = 0;
	int64_t *ht = malloc(sizeof *ht * (size_t)rows);
	double want_loss = 0, worst = 0, kept = 0;
	void *dx, *dg, *dt;
	float *dloss;
	kgen_ctx *kg;
	kgen_xent_options opt;
	int rc;

	srand(7);
	for (size_t i = 0; i < n; i++)
		hx[i] = 4.0f * ((float)rand() / (float)RAND_MAX - 0.5f);
	for (long long r = 0; r < rows; r++)
		ht[r] = r % 10 == 3 ? -100 : rand() % vocab;
	if (cudaMalloc(&dx, n * 4) || cudaMalloc(&dg, n * 4) || cudaMalloc(&dt, 8 * (size_t)rows) ||
	    cudaMalloc((void **)&dloss, 4)) {
		fprintf(stderr, "xent_example: no CUDA device\n");
		return 1;
	}
	cudaMemcpy(dx, hx, n * 4, cudaMemcpyHostToDevice);
	cudaMemcpy(dt, ht, 8 * (size_t)rows, cudaMemcpyHostToDevice);

	if ((rc = kgen_open(&kg, NULL))) {
		fprintf(stderr, "kgen_open: %s: %s\n", kgen_strerror(rc), kgen_last_error());
		return 1;
	}
	kgen_xent_options_init(&opt);
	opt.label_smoothing = (float)eps;
	rc = kgen_xent_fused(kg, dloss, NULL, dg, dx, dt, NULL, rows, vocab, vocab, vocab, KGEN_F32, KGEN_INT64, &opt,
	                     NULL);
	if (rc) {
		fprintf(stderr, "kgen_xent_fused: %s: %s\n", kgen_strerror(rc), kgen_last_error());
		return 1;
	}

	/* The same call in a CUDA graph: the kernel loaded before the capture,
	 * the denominators in our workspace; the replay writes loss and dg again. */
	{
		cudaStream_t s;
		cudaGraph_t g;
		cudaGraphExec_t ge;
		void *ws;
		if (cudaStreamCreate(&s) || cudaMalloc(&ws, kgen_xent_workspace_size()) ||
		    cudaMemset(dg, 0, n * 4) || cudaMemset(dloss, 0, 4)) {
			fprintf(stderr, "xent_example: cannot set up the graph\n");
			return 1;
		}
		opt.workspace = ws;
		if ((rc = kgen_prepare(kg, KGEN_OP_XENT_FUSED, KGEN_F32, rows, vocab, vocab, KGEN_INT64, &opt, s))) {
			fprintf(stderr, "kgen_prepare: %s: %s\n", kgen_strerror(rc), kgen_last_error());
			return 1;
		}
		cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
		rc = kgen_xent_fused(kg, dloss, NULL, dg, dx, dt, NULL, rows, vocab, vocab, vocab, KGEN_F32, KGEN_INT64,
		                     &opt, s);
		if (cudaStreamEndCapture(s, &g) || rc || cudaGraphInstantiate(&ge, g, 0) || cudaGraphLaunch(ge, s) ||
		    cudaStreamSynchronize(s)) {
			fprintf(stderr, "xent_example: graph capture failed: %s: %s\n", kgen_strerror(rc), kgen_last_error());
			return 1;
		}
		cudaGraphExecDestroy(ge);
		cudaGraphDestroy(g);
		cudaFree(ws);
		cudaStreamDestroy(s);
	}
	cudaMemcpy(&loss, dloss, 4, cudaMemcpyDeviceToHost);
	cudaMemcpy(hg, dg, n * 4, cudaMemcpyDeviceToHost);

	/* torch's definition: mean over kept rows of (1-eps) nll + eps/C sum_c (lse - x_c) */
	for (long long r = 0; r < rows; r++)
		kept += ht[r] != -100;
	for (long long r = 0; r < rows; r++) {
		const float *x = hx + r * vocab;
		double m = -INFINITY, s = 0, sx = 0, lse;
		for (long long c = 0; c < vocab; c++)
			m = fmax(m, x[c]);
		for (long long c = 0; c < vocab; c++) {
			s += exp(x[c] - m);
			sx += x[c];
		}
		lse = m + log(s);
		for (long long c = 0; c < vocab; c++) {
			double g = 0;
			if (ht[r] != -100)
				g = (exp(x[c] - lse) - (1 - eps) * (c == ht[r]) - eps / (double)vocab) / kept;
			double err = fabs(hg[r * vocab + c] - g) / (1e-9 + 1e-4 * (fabs(g) + 1.0 / (kept * vocab)));
			if (err > worst)
				worst = err;
		}
		if (ht[r] != -100)
			want_loss += ((1 - eps) * (lse - x[ht[r]]) + eps / (double)vocab * (vocab * lse - sx)) / kept;
	}
	double loss_err = fabs(loss - want_loss) / (1e-4 * fabs(want_loss));
	if (loss_err > worst)
		worst = loss_err;
	printf("cross-entropy %lldx%lld fp32 (direct, then a CUDA graph replayed): loss %.6f (want %.6f), worst error %.3f of the tolerance: %s\n", rows,
	       vocab, loss, want_loss, worst, worst <= 1 ? "PASS" : "FAIL");
	kgen_close(kg);
	cudaFree(dx);
	cudaFree(dg);
	cudaFree(dt);
	cudaFree(dloss);
	free(hx);
	free(hg);
	free(ht);
	return worst <= 1 ? 0 : 1;
}
