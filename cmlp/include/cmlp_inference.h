/* cmlp's public inference API, for C and C++ extensions (and, through cmlp/inference.pxd,
 * for Cython): predict with a trained cmlp network from compiled code, without the GIL, from
 * any number of threads at once.
 *
 * The functions live in the module cmlp.inference and are handed over in a table exported
 * as a PyCapsule, the way numpy exports its C API, so an extension needs only this header
 * (on the include path given by cmlp.get_include()) and no link step against cmlp:
 *
 *     #include "cmlp_inference.h"
 *     // in the module's init function, with the GIL:
 *     if (cmlp_import_inference() < 0) return NULL;   // sets ImportError on a mismatch
 *     // once, with the GIL, from a cmlp.inference.Model object the caller keeps alive:
 *     const cmlp_model *model = cmlp_model_from_object(obj);   // NULL + TypeError if not
 *     // then anywhere, any thread, GIL or not:
 *     int status = cmlp_predict_proba_f32(model, X, n_rows, probabilities);
 *
 * A model is an immutable copy of a network's weights (cmlp.inference.Model(network)); it
 * stays valid while its Python object lives. Every call brings its own work memory, so calls
 * on one model may run in many threads at once. X is n_rows x n_features, row-major, in the
 * model's dtype; out is n_rows x n_classes (probabilities) or n_rows labels. For a
 * regression network (loss "squared_error" or "poisson"), the predict_proba functions
 * give its n_rows x n_outputs values and the label functions CMLP_NOT_A_CLASSIFIER. A
 * binary_cross_entropy network with one logistic output (binary classification, as
 * scikit-learn shapes it) has n_classes 1: predict_proba gives each row's probability of
 * class 1 and the label functions 1 where it exceeds 0.5, else 0 (as Network.predict and
 * scikit-learn do); with several logistic outputs (multilabel) the label functions return
 * CMLP_MULTILABEL.
 * An int8 model (cmlp.inference.Model(network, quantize="int8")) is a float32 model here:
 * the _f32 functions take and give float32, whatever the network's dtype.
 *
 * Versions: CMLP_INFERENCE_ABI_VERSION changes whenever something here changes
 * incompatibly (a signature, a meaning, the table's layout); an extension built against one
 * ABI version refuses to import against another. CMLP_INFERENCE_API_VERSION counts
 * functions added at the end of the table: an extension built against API version k runs
 * with any cmlp whose API version is k or later.
 */
#ifndef CMLP_INFERENCE_H
#define CMLP_INFERENCE_H

#include <Python.h> /* first, as Python asks */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CMLP_INFERENCE_ABI_VERSION 1
#define CMLP_INFERENCE_API_VERSION 1
#define CMLP_INFERENCE_CAPSULE "cmlp.inference._C_API"

/* Element types (cmlp_model_dtype). */
#define CMLP_FLOAT32 0
#define CMLP_FLOAT64 1

/* Return codes of the predict functions. */
#define CMLP_OK 0
#define CMLP_NONFINITE_INPUT 1   /* X holds NaN or infinity: out is undefined */
#define CMLP_NONFINITE_OUTPUT 2  /* a row's computation overflowed (weights or inputs too
                                    large): its outputs are NaN, the other rows' are right */
#define CMLP_WRONG_DTYPE -1      /* the _f32 function on a float64 model, or the reverse */
#define CMLP_BAD_ARGUMENT -2     /* a NULL pointer, n_rows < 0 */
#define CMLP_NO_MEMORY -3        /* work memory could not be allocated */
#define CMLP_NOT_IMPORTED -4     /* cmlp_import_inference() was not called (or failed) */
#define CMLP_NOT_A_CLASSIFIER -5 /* labels asked of a regression (squared_error or
                                    poisson) model: it has values, no classes */
#define CMLP_MULTILABEL -6       /* labels asked of a multilabel model (several logistic
                                    outputs, binary_cross_entropy): a row has a 0/1 label
                                    per output, which one int64 cannot hold; call
                                    predict_proba and threshold each output at 0.5 */

typedef struct cmlp_model cmlp_model; /* opaque */

typedef struct {
    /* ABI version 1, API version 1 */
    unsigned int abi_version;
    unsigned int api_version;
    /* With the GIL: the model held by a cmlp.inference.Model, or NULL with TypeError set. */
    const cmlp_model *(*model_from_object)(PyObject *obj);
    int (*model_dtype)(const cmlp_model *model);
    int (*model_n_features)(const cmlp_model *model);
    int (*model_n_classes)(const cmlp_model *model);
    int (*predict_proba_f32)(const cmlp_model *model, const float *X, ptrdiff_t n_rows,
                             float *out);
    int (*predict_proba_f64)(const cmlp_model *model, const double *X, ptrdiff_t n_rows,
                             double *out);
    int (*predict_f32)(const cmlp_model *model, const float *X, ptrdiff_t n_rows,
                       int64_t *labels);
    int (*predict_f64)(const cmlp_model *model, const double *X, ptrdiff_t n_rows,
                       int64_t *labels);
    /* later API versions append here */
} cmlp_inference_api;

#ifndef CMLP_INFERENCE_MODULE /* the client side; cmlp.inference itself defines this */

/* One table per translation unit: call cmlp_import_inference() in each that predicts. */
static const cmlp_inference_api *cmlp_inference_table = NULL;

/* Import cmlp.inference and check its versions. 0, or -1 with ImportError set. GIL held. */
static int cmlp_import_inference(void)
{
    PyObject *module = PyImport_ImportModule("cmlp.inference");
    if (module == NULL) return -1;
    PyObject *capsule = PyObject_GetAttrString(module, "_C_API");
    Py_DECREF(module);
    if (capsule == NULL) return -1;
    const cmlp_inference_api *table =
        (const cmlp_inference_api *)PyCapsule_GetPointer(capsule, CMLP_INFERENCE_CAPSULE);
    Py_DECREF(capsule);
    if (table == NULL) return -1;
    if (table->abi_version != CMLP_INFERENCE_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "this module was built against cmlp inference ABI version %d, but the "
                     "installed cmlp has ABI version %u: rebuild it against this cmlp",
                     CMLP_INFERENCE_ABI_VERSION, table->abi_version);
        return -1;
    }
    if (table->api_version < CMLP_INFERENCE_API_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "this module needs cmlp inference API version %d or later, but the "
                     "installed cmlp has API version %u: upgrade cmlp",
                     CMLP_INFERENCE_API_VERSION, table->api_version);
        return -1;
    }
    cmlp_inference_table = table;
    return 0;
}

static inline const cmlp_model *cmlp_model_from_object(PyObject *obj)
{
    if (cmlp_inference_table == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cmlp_import_inference() was not called in this module");
        return NULL;
    }
    return cmlp_inference_table->model_from_object(obj);
}

static inline int cmlp_model_dtype(const cmlp_model *model)
{
    return cmlp_inference_table ? cmlp_inference_table->model_dtype(model) : CMLP_NOT_IMPORTED;
}

static inline int cmlp_model_n_features(const cmlp_model *model)
{
    return cmlp_inference_table ? cmlp_inference_table->model_n_features(model)
                                : CMLP_NOT_IMPORTED;
}

static inline int cmlp_model_n_classes(const cmlp_model *model)
{
    return cmlp_inference_table ? cmlp_inference_table->model_n_classes(model)
                                : CMLP_NOT_IMPORTED;
}

static inline int cmlp_predict_proba_f32(const cmlp_model *model, const float *X,
                                         ptrdiff_t n_rows, float *out)
{
    return cmlp_inference_table
               ? cmlp_inference_table->predict_proba_f32(model, X, n_rows, out)
               : CMLP_NOT_IMPORTED;
}

static inline int cmlp_predict_proba_f64(const cmlp_model *model, const double *X,
                                         ptrdiff_t n_rows, double *out)
{
    return cmlp_inference_table
               ? cmlp_inference_table->predict_proba_f64(model, X, n_rows, out)
               : CMLP_NOT_IMPORTED;
}

static inline int cmlp_predict_f32(const cmlp_model *model, const float *X,
                                   ptrdiff_t n_rows, int64_t *labels)
{
    return cmlp_inference_table ? cmlp_inference_table->predict_f32(model, X, n_rows, labels)
                                : CMLP_NOT_IMPORTED;
}

static inline int cmlp_predict_f64(const cmlp_model *model, const double *X,
                                   ptrdiff_t n_rows, int64_t *labels)
{
    return cmlp_inference_table ? cmlp_inference_table->predict_f64(model, X, n_rows, labels)
                                : CMLP_NOT_IMPORTED;
}

#endif /* CMLP_INFERENCE_MODULE */

#ifdef __cplusplus
}
#endif

#endif /* CMLP_INFERENCE_H */
