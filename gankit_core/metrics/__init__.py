"""Metrics: SSIM and PSNR (paper 003), FID and KID with an offline Inception (papers 002, 004), the
MEQFI human-rating score (paper 002), and Inception Score when a classifier is supplied."""
