/* softmax_example.c: an application's use of libkgen.
 *
 * Allocates a [rows, cols] bf16 tensor with the CUDA runtime, runs
 * kgen_softmax_fwd on a stream, and checks the result against a softmax
 * computed in double precision on the CPU.
 *
 *   softmax_example [rows] [cols]        (default 4096 8192)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>
#include <kgen.h>

static float bf16_to_float(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static uint16_t float_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even (inputs are finite) */
	return (uint16_t)(u >> 16);
}

int main(int argc, char **argv)
{
	long long rows = argc > 1 ? atoll(argv[1]) : 4096, cols = argc > 2 ? atoll(argv[2]) : 8192;
	size_t n = (size_t)(rows * cols);
	uint16_t *hx = malloc(n * 2), *hy = malloc(n * 2);
	double *ref = malloc(sizeof(double) * (size_t)cols), worst = 0;
	void *dx, *dy;
	cudaStream_t stream;
	kgen_ctx *kg;
	char used[256];
	int rc;

	srand(1);
	for (size_t i = 0; i < n; i++)
		hx[i] = float_to_bf16(6.0f * ((float)rand() / (float)RAND_MAX - 0.5f));
	if (cudaMalloc(&dx, n * 2) || cudaMalloc(&dy, n * 2) || cudaStreamCreate(&stream)) {
		fprintf(stderr, "softmax_example: no CUDA device\n");
		return 1;
	}
	cudaMemcpy(dx, hx, n * 2, cudaMemcpyHostToDevice);

	if ((rc = kgen_open(&kg, NULL))) {
		fprintf(stderr, "kgen_open: %s: %s\n", kgen_strerror(rc), kgen_last_error());
		return 1;
	}
	rc = kgen_softmax_fwd(kg, dy, dx, rows, cols, cols, cols, KGEN_BF16, stream);
	if (rc) {
		fprintf(stderr, "kgen_softmax_fwd: %s: %s\n", kgen_strerror(rc), kgen_last_error());
		return 1;
	}
	kgen_last_kernel(kg, used, sizeof used);
	cudaStreamSynchronize(stream);
	cudaMemcpy(hy, dy, n * 2, cudaMemcpyDeviceToHost);

	for (long long r = 0; r < rows; r++) {
		double m = -INFINITY, s = 0;
		for (long long c = 0; c < cols; c++)
			m = fmax(m, bf16_to_float(hx[r * cols + c]));
		for (long long c = 0; c < cols; c++)
			s += ref[c] = exp(bf16_to_float(hx[r * cols + c]) - m);
		for (long long c = 0; c < cols; c++) {
			double want = ref[c] / s, got = bf16_to_float(hy[r * cols + c]);
			double err = fabs(got - want) / (1e-12 + 8e-3 * fabs(want)); /* bf16: 2^-8 relative */
			if (err > worst)
				worst = err;
		}
	}
	printf("softmax %lldx%lld bf16 via %s: worst error %.3f of the bf16 tolerance: %s\n", rows, cols, used, worst,
	       worst <= 1 ? "PASS" : "FAIL");
	kgen_close(kg);
	cudaFree(dx);
	cudaFree(dy);
	cudaStreamDestroy(stream);
	free(hx);
	free(hy);
	free(ref);
	return worst <= 1 ? 0 : 1;
}
