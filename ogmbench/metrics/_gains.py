"""The paired metrics of ogmbench: the prior gain and IoU difference over the reference,
and the gains that the prior-source twins give (information and oracle ceiling, of X2
and of the target's past frames)."""

from __future__ import annotations

from ._iou import IoU
from ._mse import MSE
from ._paired import Difference, Gain, Share, TwinGain


def gains(mse: MSE, iou: IoU) -> tuple:
    """gain_mse, d_iou, gain_info, gain_oracle, gain_info_past, gain_oracle_past,
    gain_bayes (the attainable gain) and share_bayes (an estimator's share of it)."""
    gain = Gain(key="gain_mse", title="prior gain", base=mse, axis="MSE gain",
                label="MSE gain over the reference, % (paired)",
                definition="MSE reduction over the reference in % of its MSE")
    d_iou = Difference(key="d_iou", title="prior ΔIoU", base=iou,
                       label="IoU difference to the reference (paired)",
                       definition="IoU minus that of the reference")
    twins = [TwinGain(
        key=key, title=title, label=label, definition=definition, of=gain, source=source,
        other=other, twin=twin,
        measured="estimator" if twin == "shuffled" else "twin",
        against="twin" if twin == "shuffled" else "reference")
        for key, title, label, definition, source, other, twin in _TWINS]
    attainable = Gain(key="gain_bayes", title="attainable gain", base=mse,
                      axis="attainable MSE gain", measured="limit", against="limit_alone",
                      difference="d_mse_bayes",
                      label="MSE gain of the Bayes-optimal estimate with X2 over the one "
                            "without, % (paired)",
                      definition="MSE reduction of the posterior mean given X1 and X2 over the "
                                 "posterior mean given X1 alone, in % of the latter's MSE: the "
                                 "most X2 can give")
    share = Share(key="share_bayes", title="share of the attainable gain", base=mse,
                  measured="estimator", against="limit",
                  label="MSE reduction over the reference in % of the attainable one (paired)",
                  definition="MSE reduction over the reference in % of the MSE reduction X2 "
                             "gives the Bayes-optimal estimate")
    return (gain, d_iou, *twins, attainable, share)


_X2, _PAST = ("prior_source", "past_source"), ("past_source", "prior_source")
_TWINS = (
    ("gain_info", "information gain",
     "MSE gain over the blind twin (X2 shuffled at train and test), % (paired)",
     "MSE reduction over the same estimator trained and tested with another sample's X2, "
     "in % of its MSE: what X2 itself carries", *_X2, "shuffled"),
    ("gain_oracle", "oracle ceiling",
     "MSE gain of the oracle twin (clean X2 at train and test) over the reference, "
     "% (paired)",
     "MSE reduction of the same estimator given the clean X2, over the reference, in % of "
     "its MSE: what a perfect X2 would add", *_X2, "oracle"),
    ("gain_info_past", "information gain of the past",
     "MSE gain over the past-blind twin (another sample's past frames at train and test), "
     "% (paired)",
     "MSE reduction over the same estimator trained and tested with another sample's past "
     "frames, in % of its MSE: what the target's own past carries", *_PAST, "shuffled"),
    ("gain_oracle_past", "oracle ceiling of the past",
     "MSE gain of the past-oracle twin (clean past frames at train and test) over the "
     "reference, % (paired)",
     "MSE reduction of the same estimator given the clean past frames, over the reference, "
     "in % of its MSE: what a perfect past would add", *_PAST, "oracle"),
)
