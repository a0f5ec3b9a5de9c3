"""medsr.report"""
