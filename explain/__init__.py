"""WHY it predicts: attributions (SHAP, gradients, IG, Grad-CAM) and checks that they hold."""
